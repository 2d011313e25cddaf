"""Kinesis records, kept across restarts with their shard ids and sequence numbers, and the consumers'
per-shard checkpoints.

Every record put to a stream is recorded (kind ``"kinesis"``, key ``<stream>\\x1f<shard id>\\x1f<sequence
number, zero-padded>``, value: partition key, explicit hash key, data as base64, arrival time), all the
records of one PutRecord(s) request in one transaction, before moto answers it. Puts are serialized here:
moto numbers a shard's records as max + 1 without a lock, so two concurrent puts could get the same number.

``restore`` runs after provisioning has created the (empty, same-named) streams and puts the records back into
the same shards under the same sequence numbers; records older than the stream's retention are dropped (and
deleted from the store). New records continue above the highest number a shard ever had, even when every
record of it was dropped: the last dropped or trimmed number is kept as the shard's floor (kind
``"kinesis-floor"``, key ``<stream>\\x1f<shard id>``), so a consumer's checkpoint never points past new data.

``Checkpoints`` keeps a consumer's last processed sequence number per shard (kind ``"checkpoint"``, key
``<consumer>\\x1f<shard id>``), for Kinesis and DynamoDB Streams consumers alike.

Resharding (SplitShard, MergeShards) is not followed: the product's streams are on-demand and never reshard.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from marketplace.local import durable
from marketplace.local.durable.store import DataStore, Put

log = logging.getLogger("marketplace.local")

KIND = "kinesis"
FLOOR_KIND = "kinesis-floor"
CHECKPOINT_KIND = "checkpoint"
SEPARATOR = "\x1f"
SEQUENCE_WIDTH = 40  # zero-padded so that key order is sequence order

_INSTALLED = "_marketplace_durable_kinesis"
_FLOOR = "_marketplace_floor"
_PUTS = threading.RLock()
_batch = threading.local()  # per thread: the records the current PutRecord(s) request added


def record_key(stream_name: str, shard_id: str, sequence: int | str) -> str:
    return SEPARATOR.join((stream_name, shard_id, str(int(sequence)).zfill(SEQUENCE_WIDTH)))


def _shard_prefix(stream_name: str, shard_id: str) -> str:
    return f"{stream_name}{SEPARATOR}{shard_id}{SEPARATOR}"


def encode_record(record: Any) -> bytes:
    value = {
        "partition_key": record.partition_key,
        "explicit_hash_key": record.explicit_hash_key or None,
        "data": record.data,  # moto keeps the base64 text of the request
        "approximate_arrival_timestamp": record.created_at,
    }
    return json.dumps(value, sort_keys=True).encode()


def decode_record(value: bytes, sequence: int) -> Any:
    """A moto ``Record`` as it was put, with its sequence number and arrival time."""
    from moto.kinesis.models import Record

    stored = json.loads(value)
    record = Record(stored["partition_key"], stored["data"], sequence, stored.get("explicit_hash_key") or "")
    arrival = float(stored["approximate_arrival_timestamp"])
    record.created_at = arrival
    record.created_at_datetime = datetime.fromtimestamp(arrival, UTC).replace(tzinfo=None)
    return record


# --------------------------------------------------------------------------------------------- hooks


def install() -> None:
    """Record every record put to a stream (idempotent; inert while no store is active)."""
    from moto.kinesis.models import KinesisBackend, Shard, Stream

    for name in ("put_record", "put_records"):
        original = getattr(KinesisBackend, name)
        if not getattr(original, _INSTALLED, False):
            setattr(KinesisBackend, name, _request_hook(original))
    if not getattr(Stream.put_record, _INSTALLED, False):
        Stream.put_record = _stream_hook(Stream.put_record)  # type: ignore[method-assign]
    if not getattr(Shard.put_record, _INSTALLED, False):
        Shard.put_record = _floor_hook(Shard.put_record)  # type: ignore[method-assign]
    if not getattr(KinesisBackend.delete_stream, _INSTALLED, False):
        KinesisBackend.delete_stream = _delete_hook(KinesisBackend.delete_stream)  # type: ignore[method-assign]


def _request_hook(operation: Callable[..., Any]) -> Callable[..., Any]:
    """One request, one transaction: the records it added are written together, before moto answers."""

    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _PUTS:
            outer = getattr(_batch, "changes", None) is None
            if outer:
                _batch.changes = []
            try:
                return operation(*args, **kwargs)
            finally:
                if outer:
                    changes, _batch.changes = _batch.changes, None
                    store = durable.active()
                    if store is not None and changes:  # also what a request that failed half-way did put
                        store.apply(changes)

    setattr(run, _INSTALLED, True)
    return run


def _stream_hook(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def run(stream: Any, *args: Any, **kwargs: Any) -> Any:
        with _PUTS:
            sequence, shard_id = operation(stream, *args, **kwargs)
            if durable.active() is not None:
                record = stream.shards[shard_id].records[int(sequence)]
                change = Put(KIND, record_key(stream.stream_name, shard_id, sequence), encode_record(record))
                changes = getattr(_batch, "changes", None)
                if changes is not None:
                    changes.append(change)
                else:  # a put that came from elsewhere in moto (a log subscription): written on its own
                    store = durable.active()
                    if store is not None:
                        store.apply([change])
            return sequence, shard_id

    setattr(run, _INSTALLED, True)
    return run


def _floor_hook(operation: Callable[..., Any]) -> Callable[..., Any]:
    """A restored shard whose records were all dropped numbers its next record above its old ones."""

    @functools.wraps(operation)
    def run(shard: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
        floor = int(getattr(shard, _FLOOR, 0))
        if floor and shard.get_max_sequence_number() < floor:
            from moto.kinesis.models import Record

            sequence = floor + 1
            shard.records[sequence] = Record(partition_key, data, sequence, explicit_hash_key)
            return str(sequence)
        return str(operation(shard, partition_key, data, explicit_hash_key))

    setattr(run, _INSTALLED, True)
    return run


def _delete_hook(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _PUTS:
            stream = operation(*args, **kwargs)
            store = durable.active()
            if store is not None:
                store.delete_kind(KIND, stream.stream_name + SEPARATOR)
                store.delete_kind(FLOOR_KIND, stream.stream_name + SEPARATOR)
            return stream

    setattr(run, _INSTALLED, True)
    return run


# --------------------------------------------------------------------------------------------- restore


def _find_stream(name: str) -> Any:
    from moto.kinesis.models import kinesis_backends

    for _, _, backend in kinesis_backends.iter_backends():
        stream = backend.streams.get(name)  # type: ignore[attr-defined]
        if stream is not None:
            return stream
    return None


def restore(store: DataStore, now: float | None = None) -> None:
    """Put the stored records back into the (freshly provisioned) streams' shards with their sequence numbers;
    drop those past their stream's retention."""
    now = time.time() if now is None else now
    expired: list[str] = []
    floors: dict[tuple[str, str], int] = {}
    for key, value in store.scan(FLOOR_KIND):
        stream_name, shard_id = key.split(SEPARATOR)
        floors[(stream_name, shard_id)] = int(json.loads(value)["sequence"])
    touched: dict[int, Any] = {}
    missing: set[str] = set()
    with durable.restoring(), _PUTS:
        for key, value in store.scan(KIND):
            stream_name, shard_id, padded = key.split(SEPARATOR)
            stream = _find_stream(stream_name)
            shard = stream.shards.get(shard_id) if stream is not None else None
            if shard is None:
                if key.rsplit(SEPARATOR, 1)[0] not in missing:
                    log.warning("Kinesis restore: %s %s is not provisioned; its records stay stored",
                                stream_name, shard_id)
                    missing.add(key.rsplit(SEPARATOR, 1)[0])
                continue
            record = decode_record(value, int(padded))
            if record.created_at < now - stream.retention_period_hours * 3600:
                expired.append(key)
                floors[(stream_name, shard_id)] = max(floors.get((stream_name, shard_id), 0), int(padded))
                continue
            shard.records[int(padded)] = record
            touched[id(shard)] = shard
        for shard in touched.values():
            shard.records = OrderedDict(sorted(shard.records.items()))
        for (stream_name, shard_id), floor in floors.items():
            stream = _find_stream(stream_name)
            if stream is not None and shard_id in stream.shards:
                setattr(stream.shards[shard_id], _FLOOR, floor)
    if expired:
        store.apply(_deletions(expired, floors))
        log.info("Kinesis restore: %d records past their stream's retention dropped", len(expired))


def _deletions(keys: list[str], floors: dict[tuple[str, str], int]) -> Iterator[Put]:
    for key in keys:
        yield Put(KIND, key, None)
    for (stream_name, shard_id), floor in floors.items():
        yield Put(FLOOR_KIND, f"{stream_name}{SEPARATOR}{shard_id}", json.dumps({"sequence": str(floor)}).encode())


def trim(store: DataStore, stream_name: str, shard_id: str, up_to_sequence: int | str) -> int:
    """Delete the stored records of a shard up to ``up_to_sequence`` (included); returns how many.

    Only the store changes (the running backend keeps them until the next restart); the shard's floor keeps
    new records numbered above the trimmed ones after a restart."""
    limit = int(up_to_sequence)
    keys: list[str] = []
    highest = 0
    for key, _ in store.scan(KIND, _shard_prefix(stream_name, shard_id)):
        sequence = int(key.rsplit(SEPARATOR, 1)[1])
        if sequence > limit:
            break
        keys.append(key)
        highest = sequence
    if keys:
        floor_key = f"{stream_name}{SEPARATOR}{shard_id}"
        stored_floor = store.get(FLOOR_KIND, floor_key)
        floor = max(highest, int(json.loads(stored_floor)["sequence"]) if stored_floor else 0)
        store.apply(_deletions(keys, {(stream_name, shard_id): floor}))
    return len(keys)


# --------------------------------------------------------------------------------------------- checkpoints


class Checkpoints:
    """One consumer's last processed sequence number per shard, durable: after a restart the consumer resumes
    after it (``AFTER_SEQUENCE_NUMBER``) instead of at the oldest or newest record."""

    def __init__(self, store: DataStore, consumer_name: str) -> None:
        if SEPARATOR in consumer_name:
            raise ValueError("a consumer name cannot contain the key separator")
        self.store, self.consumer_name = store, consumer_name

    def _key(self, shard_id: str) -> str:
        return f"{self.consumer_name}{SEPARATOR}{shard_id}"

    def get(self, shard_id: str) -> str | None:
        value = self.store.get(CHECKPOINT_KIND, self._key(shard_id))
        return None if value is None else value.decode()

    def set(self, shard_id: str, sequence: str) -> None:
        self.store.put(CHECKPOINT_KIND, self._key(shard_id), str(sequence).encode())

    def all(self) -> dict[str, str]:
        prefix = self.consumer_name + SEPARATOR
        return {key[len(prefix):]: value.decode() for key, value in self.store.scan(CHECKPOINT_KIND, prefix)}
