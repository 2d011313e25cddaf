"""Telemetry ingest: a parsed batch in, the events stored on the stream, an honest answer out.

No event is lost silently. After the retries (``stream.put``), events in records Kinesis still refused are
reported as rejected with ``UNAVAILABLE`` as the reason, so the client can send exactly those again (sending
the whole batch again would duplicate the stored ones). When nothing at all could be stored, the answer is
``503`` with ``Retry-After`` instead: then the whole batch may be sent again as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marketplace.telemetry import batch, stream
from marketplace.telemetry.batch import Rejection
from marketplace.telemetry.packing import DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORD_EVENTS, Record
from marketplace.telemetry.scrub import Pseudonyms

UNAVAILABLE = "unavailable: the event stream did not take this event in time; send it again"

Put = Callable[[Sequence[Record], float], list[Record]]


@dataclass(frozen=True)
class Outcome:
    accepted: int
    rejected: list[Rejection]
    stored_nothing: bool  # records were due but none was stored: the whole batch may be retried

    def body(self) -> dict[str, object]:
        return {"accepted": self.accepted, "rejected": [r.body() for r in self.rejected]}


def ingest(events: list[Any], pseudonyms: Pseudonyms, now: datetime, deadline: float, *,
           max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, max_record_events: int = DEFAULT_MAX_RECORD_EVENTS,
           put: Put = stream.put) -> Outcome:
    prepared = batch.prepare(events, pseudonyms, now, max_record_bytes=max_record_bytes,
                             max_record_events=max_record_events)
    failed = put(prepared.records, deadline) if prepared.records else []
    rejected = prepared.rejected
    if failed:
        rejected = sorted(rejected + [Rejection(i, UNAVAILABLE) for r in failed for i in r.indexes],
                          key=lambda r: r.index)
    accepted = prepared.accepted - sum(len(r.indexes) for r in failed)
    return Outcome(accepted, rejected, stored_nothing=bool(failed) and len(failed) == len(prepared.records))
