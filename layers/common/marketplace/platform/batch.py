"""Partial batch responses for SQS and DynamoDB Stream event sources.

Powertools' ``BatchProcessor`` does the same, but importing it also imports the parser models of every
event type (pydantic), which costs about 100 ms of cold start per function (``bench/`` measures cold
starts); this is the part the functions use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

R = TypeVar("R")


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails, so Lambda retries (and may bisect) it all."""


def process_partial(
    records: Iterable[R],
    handle: Callable[[R], None],
    identifier: Callable[[R], str],
    logger: Logger,
) -> dict[str, Any]:
    """Handle each record; answer ``batchItemFailures`` naming the ones that raised."""
    failures: list[dict[str, str]] = []
    count = 0
    for record in records:
        count += 1
        try:
            handle(record)
        except Exception as error:
            logger.exception("record failed", extra={"record": identifier(record), "error_type": type(error).__name__})
            failures.append({"itemIdentifier": identifier(record)})
    if count and len(failures) == count:
        raise BatchFailed(f"all {count} records failed")
    return {"batchItemFailures": failures}
