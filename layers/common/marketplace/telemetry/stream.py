"""Putting telemetry records on the event stream: ``PutRecords`` with retries of what Kinesis refused.

``PutRecords`` is not all-or-nothing: a shard over its write limit (``ProvisionedThroughputExceededException``)
or a KMS hiccup fails single records (``FailedRecordCount``, an ``ErrorCode`` per record) while the rest are
stored. Only the failed records are sent again, after an exponentially growing, fully jittered pause
(``platform.retry.Backoff``: a random wait between 0 and ``base * 2**attempt``, capped), until they are stored
or the deadline would pass; what is still failing then is returned, never dropped silently. A call that fails as a
whole (after the SDK's own retries) counts as all its records failing. Calls hold at most 500 records and
5 MiB, Kinesis' limits.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import EVENTS_STREAM
from marketplace.platform.retry import Backoff
from marketplace.telemetry.packing import Record

logger = logging.getLogger(__name__)

MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 * 1024 * 1024
BASE_DELAY = 0.05
MAX_DELAY = 1.0


def _calls(records: Sequence[Record]) -> Iterator[list[Record]]:
    call: list[Record] = []
    size = 0
    for record in records:
        if call and (len(call) >= MAX_CALL_RECORDS or size + record.size > MAX_CALL_BYTES):
            yield call
            call, size = [], 0
        call.append(record)
        size += record.size
    if call:
        yield call


def _put(client: Any, stream: str, call: list[Record]) -> list[Record]:
    """The records of one call that were not stored."""
    try:
        answer: dict[str, Any] = client.put_records(
            StreamName=stream, Records=[{"Data": r.data, "PartitionKey": r.id} for r in call])
    except (ClientError, BotoCoreError) as error:
        logger.warning("PutRecords failed as a whole (%s records): %s", len(call), type(error).__name__)
        return call
    if not answer.get("FailedRecordCount"):
        return []
    results = answer["Records"]
    failed = [record for record, result in zip(call, results, strict=True) if result.get("ErrorCode")]
    codes = sorted({str(result["ErrorCode"]) for result in results if result.get("ErrorCode")})
    logger.warning("PutRecords stored %s of %s records (%s)", len(call) - len(failed), len(call), ", ".join(codes))
    return failed


def put(records: Sequence[Record], deadline: float, *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random) -> list[Record]:
    """Store ``records``, retrying failures until ``deadline`` (a ``clock()`` time); the records still not
    stored then. Every record is sent at least once, whatever the deadline."""
    client = aws.client("kinesis")
    stream = location(EVENTS_STREAM)
    backoff = Backoff(attempts=None, base=BASE_DELAY, cap=MAX_DELAY, sleep=sleep, random=jitter, clock=clock)
    pending = list(records)
    attempts = 0
    for attempt in backoff.tries(deadline):
        attempts = attempt + 1
        pending = [record for call in _calls(pending) for record in _put(client, stream, call)]
        if not pending:
            return []
    logger.error("%s records not stored before the deadline, after %s attempts", len(pending), attempts)
    return pending
