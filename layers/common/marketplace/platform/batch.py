"""Partial batch responses for the SQS, DynamoDB Streams and Kinesis event sources, the one batch strategy of
the three consumers (ingest, search indexer, stats).

Lambda reads ``{"batchItemFailures": [{"itemIdentifier": ...}]}``: an SQS message id, or a stream record's
sequence number (a stream restarts from the lowest one named). When every record of a batch failed the
invocation fails instead, so Lambda retries (and, for a stream, may bisect) all of it.

Chosen over Powertools' ``BatchProcessor`` by ``bench/batch_strategy.py`` (``./dev bench --only
batch-strategy``), which times each candidate's import plus one batch after what every function imports
anyway. On the development machine (medians of 15): this helper under 1 ms for each source, ``BatchProcessor``
31-35 ms for SQS, Kinesis or DynamoDB Streams alike (it imports asyncio and every event data class, whatever
the source), 190-210 ms with its pydantic parser models. Powertools' data classes alone cost about 29 ms; the
search indexer pays that to read its DynamoDB records, ingest and stats read plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

R = TypeVar("R")


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails, so Lambda retries (and may bisect) it all."""


def partial_response(failed: Sequence[str], count: int) -> dict[str, Any]:
    """The answer for a batch of ``count`` records of which ``failed`` (identifiers) failed."""
    if count and len(failed) >= count:
        raise BatchFailed(f"all {count} records failed")
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in failed]}


def process_partial(
    records: Iterable[R],
    handle: Callable[[R], None],
    identifier: Callable[[R], str],
    logger: Logger,
) -> dict[str, Any]:
    """Handle each record; answer ``batchItemFailures`` naming the ones that raised."""
    failed: list[str] = []
    count = 0
    for record in records:
        count += 1
        try:
            handle(record)
        except Exception as error:
            logger.exception("record failed", extra={"record": identifier(record), "error_type": type(error).__name__})
            failed.append(identifier(record))
    return partial_response(failed, count)
