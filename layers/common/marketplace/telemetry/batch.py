"""One request's batch, from body bytes to Kinesis records: parse, validate and scrub each event, pack.

Rules about the batch as a whole answer the whole request (``413`` over ``MAX_BODY_BYTES`` or ``MAX_EVENTS``,
``400`` for a body that is not ``{"events": [...]}`` with at least one event); rules about one event reject that
event only. Nothing here touches AWS: this is what ``bench/telemetry.py`` times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marketplace.platform.body import parse_json
from marketplace.platform.errors import BadRequest, PayloadTooLarge
from marketplace.telemetry import events
from marketplace.telemetry.packing import DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORD_EVENTS, Record, pack
from marketplace.telemetry.scrub import Pseudonyms

SHAPE = 'The body must be a JSON object {"events": [...]} with at least one event'


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str

    def body(self) -> dict[str, object]:
        return {"index": self.index, "reason": self.reason}


@dataclass
class Prepared:
    records: list[Record]
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(len(record.indexes) for record in self.records)


def parse(data: bytes) -> list[Any]:
    """The events of a request body; ``PayloadTooLarge`` or ``BadRequest`` for the batch as a whole."""
    if len(data) > events.MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {events.MAX_BODY_BYTES} bytes")
    try:  # the platform's decoder: strict UTF-8, bounded nesting and digits (NaN is rejected per event)
        body = parse_json(data, expect=dict, constants=True)
    except BadRequest as error:
        raise BadRequest(f"{error.message}. {SHAPE}") from None
    batch = body.get("events")
    if type(batch) is not list or not batch:
        raise BadRequest(SHAPE)
    if len(batch) > events.MAX_EVENTS:
        raise PayloadTooLarge(f"A batch holds at most {events.MAX_EVENTS} events, not {len(batch)}")
    return batch


def prepare(batch: list[Any], pseudonyms: Pseudonyms, now: datetime, *,
            max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
            max_record_events: int = DEFAULT_MAX_RECORD_EVENTS) -> Prepared:
    """Each event validated and scrubbed, the valid ones packed into records."""
    window = events.Window.around(now)
    ids = pseudonyms.batch()
    rejected: list[Rejection] = []
    encoded: list[tuple[int, bytes]] = []
    scrub, encode, invalid = events.scrubbed, events.encoded, events.InvalidEvent
    for index, raw in enumerate(batch):
        try:
            encoded.append((index, encode(scrub(raw, window, ids))))
        except invalid as error:
            rejected.append(Rejection(index, str(error)))
    records = pack(encoded, max_bytes=max_record_bytes, max_events=max_record_events)
    return Prepared(records, rejected)
