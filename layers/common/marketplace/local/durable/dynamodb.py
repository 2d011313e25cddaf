"""DynamoDB table items and table stream records, kept across restarts.

Items: every successful ``PutItem``, ``UpdateItem``, ``DeleteItem`` and ``TransactWriteItems`` (``BatchWriteItem``
goes through moto's ``put_item``/``delete_item``, one item at a time, as DynamoDB applies it) records the
resulting state of each item it changed: kind ``"dynamodb"``, key ``<table name>\\x1f<canonical key JSON>``,
value the item's attributes in DynamoDB JSON (binary values base64, as on the wire), or a deletion. The key
JSON has sorted attribute names, numbers without trailing zeros and binary values in base64, so ``{"N": "1.0"}``
and ``{"N": "1"}`` (one item for DynamoDB) make one record.

Stream records: each record moto appends to a table's stream shard is kept as it is (kind
``"dynamodb-stream"``, key ``<table name>\\x1f<sequence number, zero-padded>``) until the consumer trims it
(``trim_stream``) or it is older than DynamoDB Streams' 24 hours at a restore. The highest sequence number
ever trimmed is kept too (kind ``"dynamodb-stream-head"``, key the table name), so a stream whose records
were all consumed still continues above them after a restart.

A write and the record of its result happen under the lock ``marketplace.local.atomic_dynamodb`` serializes
moto's DynamoDB operations with (one lock, whichever of the two wrappers is outside), so records follow
moto's order. All records of one request, a transaction's items and stream records included, are one
``DataStore.apply``; a transaction moto rejects records nothing. If the store cannot take the records, the
change is taken back out of moto's memory too and the request fails: what is served is what is on disk.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table

from marketplace.local import durable
from marketplace.local.atomic_dynamodb import _LOCK
from marketplace.local.context import REGION
from marketplace.local.durable.codec import collection_paused, tagged, untagged
from marketplace.local.durable.store import DataStore, Put

log = logging.getLogger("marketplace.local")

KIND = "dynamodb"
STREAM_KIND = "dynamodb-stream"
STREAM_HEAD_KIND = "dynamodb-stream-head"
ACCOUNT = DEFAULT_ACCOUNT_ID  # the account moto serves the runtime's credentials from
SEP = "\x1f"
SEQUENCE_DIGITS = 40
STREAM_RETENTION = timedelta(hours=24)

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_INSTALLED = "_marketplace_durable_dynamodb"
_INSTALL_LOCK = threading.Lock()
_TRIM_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------- encoding


def _base64(value: str | bytes) -> str:
    return value if isinstance(value, str) else base64.b64encode(value).decode()


def wire(value: DynamoType | dict[str, Any]) -> dict[str, Any]:
    """An attribute value as DynamoDB JSON; moto keeps a binary value as received (base64 text) or as bytes."""
    attribute = value if isinstance(value, DynamoType) else DynamoType(value)
    kind, inner = attribute.type, attribute.value
    if kind == "M":
        return {"M": {name: wire(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [wire(v) for v in inner]}
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(v) for v in inner]}
    return {kind: inner}


def _number(text: str) -> str:
    """One spelling per number: ``1.50`` -> ``1.5``, ``1E+2`` -> ``100``, ``-0`` -> ``0``."""
    spelled = format(Decimal(text), "f")
    if "." in spelled:
        spelled = spelled.rstrip("0").rstrip(".")
    return "0" if spelled in ("-0", "") else spelled


def _canonical(value: DynamoType) -> dict[str, str]:
    if value.type == "N":
        return {"N": _number(value.value)}
    if value.type == "B":
        return {"B": _base64(value.value)}
    return {value.type: value.value}


def item_key(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> str:
    """The record key of an item: table name, then its key attributes as canonical JSON."""
    key = {table.hash_key_attr: _canonical(hash_key)}
    if table.range_key_attr is not None and range_key is not None:
        key[table.range_key_attr] = _canonical(range_key)
    return table.name + SEP + json.dumps(key, sort_keys=True, separators=(",", ":"))


def encode_item(item: Item) -> bytes:
    return json.dumps({name: wire(v) for name, v in item.attrs.items()}, separators=(",", ":")).encode()


def _attribute(value: dict[str, Any]) -> DynamoType:
    """``DynamoType(value)``, built the way its constructor does, without its per-value overhead."""
    ((kind, inner),) = value.items()
    attribute: DynamoType = object.__new__(DynamoType)
    attribute.type = kind
    if kind == "M":
        inner = {name: _attribute(v) for name, v in inner.items()}
    elif kind == "L":
        inner = [_attribute(v) for v in inner]
    attribute.value = inner
    return attribute


def decode_item(table: Table, value: bytes) -> Item:
    """An ``Item`` as moto builds one from a request, without its size check (the item passed it once) and
    without moto's instance tracking."""
    attributes: dict[str, Any] = json.loads(value.decode())
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, {name: _attribute(attribute) for name, attribute in attributes.items()})
    item: Item = object.__new__(Item)
    item.hash_key = _attribute(attributes[table.hash_key_attr])
    item.range_key = _attribute(attributes[table.range_key_attr]) if table.range_key_attr else None
    item.attrs = attrs
    return item


def sequence_key(table_name: str, sequence: int | str) -> str:
    return f"{table_name}{SEP}{int(sequence):0{SEQUENCE_DIGITS}d}"


def _plain(value: Any) -> Any:
    """DynamoDB values in a stream record as their regular JSON (where DynamoDB JSON never has a one-key object
    holding a string under the codec's tag names)."""
    return value.to_regular_json() if isinstance(value, DynamoType) else value


def encode_stream_record(record: StreamRecord) -> bytes:
    return json.dumps(tagged(record.record, _plain), separators=(",", ":")).encode()


def decode_stream_record(value: bytes) -> StreamRecord:
    record: StreamRecord = object.__new__(StreamRecord)
    record.record = untagged(json.loads(value))
    return record


# --------------------------------------------------------------------------------------------- the hooks


@dataclass
class _Operation:
    """What one request (and the backend calls it makes, a transaction's) changed, recorded when it ends."""

    items: dict[str, tuple[Table, DynamoType, DynamoType | None]] = field(default_factory=dict)
    # the state before, to take the change back if the store fails: (table, hash, range, item or None)
    before: dict[str, tuple[Table, DynamoType, DynamoType | None, Item | None]] = field(default_factory=dict)
    streams: dict[str, tuple[Table, StreamShard, int]] = field(default_factory=dict)

    def start(self, backend: DynamoDBBackend) -> None:
        """Note where each table's stream ends: what is appended after it is this request's."""
        for table in list(backend.tables.values()):
            if table.stream_shard is not None:
                self.streams[table.name] = (table, table.stream_shard, len(table.stream_shard.items))

    def touch(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None, mutates: bool) -> None:
        key = item_key(table, hash_key, range_key)
        if key not in self.before:
            current = table.get_item(hash_key, range_key)
            # put and delete replace the item object; update changes it in place
            self.before[key] = (table, hash_key, range_key, copy.deepcopy(current) if mutates else current)

    def changed(self, table: Table, item: Item) -> None:
        self.items[item_key(table, item.hash_key, item.range_key)] = (table, item.hash_key, item.range_key)

    def records(self) -> list[Put]:
        changes: list[Put] = []
        for key, (table, hash_key, range_key) in self.items.items():
            current = table.get_item(hash_key, range_key)
            changes.append(Put(KIND, key, None if current is None else encode_item(current)))
        for table, shard, start in self.streams.values():
            if table.stream_shard is not shard:
                continue
            for record in shard.items[start:]:
                sequence = record.record["dynamodb"]["SequenceNumber"]
                changes.append(Put(STREAM_KIND, sequence_key(table.name, sequence), encode_stream_record(record)))
        return changes

    def take_back(self) -> None:
        for table, hash_key, range_key, item in reversed(list(self.before.values())):
            if item is None:
                if range_key is not None:
                    table.items[hash_key].pop(range_key, None)
                else:
                    table.items.pop(hash_key, None)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item  # type: ignore[assignment]  # moto's annotation covers range tables
        for _table, shard, start in self.streams.values():
            del shard.items[start:]


_current = threading.local()


def _locate(backend: DynamoDBBackend, table_name: str, key: Any) -> tuple[Table, DynamoType, DynamoType | None]:
    table = backend.get_table(table_name)
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return table, hash_key, range_key


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str) -> Any:
    return args[position] if len(args) > position else kwargs[name]


def _before(name: str, backend: DynamoDBBackend, operation: _Operation, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Table | None:
    """Note the item a single-item write is about to change; its table (``None``: moto will reject the call)."""
    if name == "transact_write_items":
        return None
    try:
        table, hash_key, range_key = _locate(
            backend, _argument(args, kwargs, 0, "table_name"),
            _argument(args, kwargs, 1, "item_attrs" if name == "put_item" else "key"))
        operation.touch(table, hash_key, range_key, mutates=name == "update_item")
    except Exception:  # a malformed request: moto answers it with its own error
        return None
    return table


def _after(name: str, backend: DynamoDBBackend, operation: _Operation, table: Table | None, result: Any,
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name == "transact_write_items" or not isinstance(result, Item):
        return  # a transaction's items come from its calls; a delete that found nothing changed nothing
    if table is None:  # moto took a key this module could not read: recorded, but not taken back on a failure
        table = backend.get_table(_argument(args, kwargs, 0, "table_name"))
    operation.changed(table, result)


def _persisted(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def run(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        store = durable.active()
        if store is None or self.account_id != ACCOUNT or self.region_name != REGION:
            return original(self, *args, **kwargs)
        with _LOCK:
            outer: _Operation | None = getattr(_current, "operation", None)
            operation = outer or _Operation()
            if outer is None:
                operation.start(self)
            _current.operation = operation
            try:
                table = _before(name, self, operation, args, kwargs)
                result = original(self, *args, **kwargs)
                _after(name, self, operation, table, result, args, kwargs)
            finally:
                _current.operation = outer
            if outer is not None:
                return result  # part of a transaction: recorded when it succeeds
            try:
                store.apply(operation.records())
            except BaseException:
                operation.take_back()
                raise
            return result

    setattr(run, _INSTALLED, True)
    return run


def install() -> None:
    """Record the result of every DynamoDB write (idempotent)."""
    with _INSTALL_LOCK:
        for name in _WRITES:
            original = getattr(DynamoDBBackend, name)
            if getattr(original, _INSTALLED, False):
                continue
            setattr(DynamoDBBackend, name, _persisted(name, original))


# --------------------------------------------------------------------------------------------- streams


def _head(store: DataStore, table_name: str) -> int | None:
    value = store.get(STREAM_HEAD_KIND, table_name)
    return None if value is None else int(value)


def trim_stream(store: DataStore, table_name: str, up_to_sequence: int | str) -> int:
    """Forget the stream records of ``table_name`` up to ``up_to_sequence`` (included), which its consumer has
    processed; returns how many. New records keep coming above it after a restart."""
    last = int(up_to_sequence)
    limit = sequence_key(table_name, last)
    with _TRIM_LOCK:
        done = [key for key, _ in store.scan(STREAM_KIND, table_name + SEP) if key <= limit]
        head = _head(store, table_name)
        changes = [Put(STREAM_KIND, key, None) for key in done]
        if head is None or head < last:
            changes.append(Put(STREAM_HEAD_KIND, table_name, str(last).encode()))
        store.apply(changes)
    return len(done)


def _created(record: StreamRecord) -> datetime | None:
    created = record.record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if not isinstance(created, datetime):
        return None
    return created.replace(tzinfo=UTC) if created.tzinfo is None else created


class RestoredStreamShard(StreamShard):
    """A shard whose oldest records may be trimmed: an iterator from before its first record starts at it
    (moto's shard assumes every record since its first sequence number is there)."""

    def get(self, start: int, quantity: int) -> list[dict[str, Any]]:
        return super().get(max(start, self.starting_sequence_number), quantity)


def _restore_stream(store: DataStore, table: Table, stored: list[tuple[int, StreamRecord]]) -> int:
    shard = table.stream_shard
    if shard is None:
        return 0
    head = _head(store, table.name)
    horizon = datetime.now(UTC) - STREAM_RETENTION
    expired = [(sequence, record) for sequence, record in stored
               if (created := _created(record)) is not None and created < horizon]
    if expired:
        trim_stream(store, table.name, max(sequence for sequence, _ in expired))
        head = _head(store, table.name)
        stored = [(sequence, record) for sequence, record in stored if head is None or sequence > head]
    # moto finds a record by its distance from the shard's first sequence number: keep the unbroken run
    # that ends with the newest record (a gap means records went missing; the older ones cannot be served)
    kept = stored[-1:]
    for sequence, record in reversed(stored[:-1]):
        if sequence != kept[0][0] - 1:
            log.warning("stream records of %s before %d are missing; %d older ones are not restored",
                        table.name, kept[0][0], len(stored) - len(kept))
            break
        kept.insert(0, (sequence, record))
    if kept:
        first = kept[0][0]
    elif head is not None:
        first = head + 1
    else:
        return 0
    shard.__class__ = RestoredStreamShard
    shard.starting_sequence_number = first
    shard.items = [record for _, record in kept]
    return len(kept)


# --------------------------------------------------------------------------------------------- restore


def _stored_streams(store: DataStore) -> Iterator[tuple[str, list[tuple[int, StreamRecord]]]]:
    by_table: dict[str, list[tuple[int, StreamRecord]]] = defaultdict(list)
    for key, value in store.scan(STREAM_KIND):
        table_name, sequence = key.rsplit(SEP, 1)
        by_table[table_name].append((int(sequence), decode_stream_record(value)))
    yield from by_table.items()


def _restore_items(store: DataStore, backend: DynamoDBBackend) -> tuple[int, int]:
    restored, skipped = 0, 0
    for key, value in store.scan(KIND):
        table = backend.tables.get(key.split(SEP, 1)[0])
        if table is None:
            skipped += 1
            continue
        try:
            item = decode_item(table, value)
        except KeyError:  # the table's key schema changed since: the item cannot be placed
            skipped += 1
            continue
        if item.range_key is not None:
            table.items[item.hash_key][item.range_key] = item
        else:
            table.items[item.hash_key] = item  # type: ignore[assignment]  # moto's annotation covers range tables
        restored += 1
    return restored, skipped


def restore(store: DataStore) -> None:
    """Put every stored item into its (freshly provisioned) table, then each table's stream records with their
    sequence numbers. Nothing goes through the API: no stream record is made and nothing is recorded again."""
    backend = dynamodb_backends[ACCOUNT][REGION]
    with durable.restoring(), _LOCK, collection_paused():
        restored, skipped = _restore_items(store, backend)
        streams = dict(_stored_streams(store))
        streamed = 0
        for table in list(backend.tables.values()):
            streamed += _restore_stream(store, table, streams.get(table.name, []))
    log.info("restored %d DynamoDB items (%d of tables that do not exist) and %d stream records",
             restored, skipped, streamed)
