"""Many scrubbed events to one Kinesis record.

A record's data is one UTF-8 (in fact ASCII) JSON object:

    {"type":"telemetry","v":1,"id":"<32 hex>","events":[<event>,<event>,...]}

``id`` is random per record: it is the record's partition key too (records spread over every shard) and lets a
consumer drop a record it has seen before (an ambiguous ``PutRecords`` timeout may be retried and put it twice).
A record holds at most ``max_events`` events and ``max_bytes`` bytes: far below Kinesis' 1 MiB, so a shard's
1 MiB/s write limit is shared by several records and a consumer's batch stays small. Events keep the order
they had in the request. Each event is encoded once (``events.encoded``) and records are built by joining
bytes, so packing costs one pass over the encoded events.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

RECORD_TYPE = "telemetry"
VERSION = 1
DEFAULT_MAX_RECORD_BYTES = 256 * 1024
DEFAULT_MAX_RECORD_EVENTS = 500
KINESIS_MAX_RECORD_BYTES = 1024 * 1024  # data and partition key together

_HEAD = b'{"type":"' + RECORD_TYPE.encode() + b'","v":' + str(VERSION).encode() + b',"id":"'
_MIDDLE = b'","events":['
_TAIL = b"]}"
_ID_CHARS = 32
# the record's framing around its events, and its partition key (the id again), which Kinesis counts too
OVERHEAD = len(_HEAD) + _ID_CHARS + len(_MIDDLE) + len(_TAIL) + _ID_CHARS


@dataclass(frozen=True)
class Record:
    id: str  # also the partition key
    data: bytes
    indexes: tuple[int, ...]  # positions, in the request, of the events it carries

    @property
    def size(self) -> int:
        """What Kinesis counts against its limits: the data and the partition key."""
        return len(self.data) + len(self.id)


def _record(events: list[bytes], indexes: list[int]) -> Record:
    record_id = os.urandom(16).hex()
    data = b"".join((_HEAD, record_id.encode(), _MIDDLE, b",".join(events), _TAIL))
    return Record(record_id, data, tuple(indexes))


def pack(encoded: Iterable[tuple[int, bytes]], *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
         max_events: int = DEFAULT_MAX_RECORD_EVENTS) -> list[Record]:
    """Records for ``(index, encoded event)`` pairs, in order; every event must fit a record on its own.
    ``max_bytes`` bounds what Kinesis counts: the data and the partition key."""
    if not OVERHEAD < max_bytes <= KINESIS_MAX_RECORD_BYTES:
        raise ValueError(f"max_bytes must be between {OVERHEAD + 1} and {KINESIS_MAX_RECORD_BYTES}")
    records: list[Record] = []
    events: list[bytes] = []
    indexes: list[int] = []
    size = OVERHEAD
    for index, data in encoded:
        grown = size + len(data) + (1 if events else 0)
        if events and (grown > max_bytes or len(events) >= max_events):
            records.append(_record(events, indexes))
            events, indexes, size = [], [], OVERHEAD
            grown = size + len(data)
        if grown > max_bytes:
            raise ValueError(f"an event of {len(data)} bytes does not fit a record of {max_bytes} bytes")
        events.append(data)
        indexes.append(index)
        size = grown
    if events:
        records.append(_record(events, indexes))
    return records
