"""Stream records are dropped while serving once nothing will read them again, so a registry that runs for
months keeps a bounded data directory and a flat memory.

Every download, install and telemetry event is a Kinesis record, and every catalog write a DynamoDB Stream
record; both are kept in the data directory (``kinesis.py``, ``dynamodb.py``) and in moto's memory. A
``Retention`` thread wakes every ``interval`` seconds and, for each stream the runtime provisioned:

- finds, per shard, the lowest checkpoint among all its consumers (the stream pollers and the Firehose
  deliveries reading it, and any consumer not running this time that left a checkpoint in the data
  directory). A running consumer without a checkpoint for the shard yet blocks it: it will read the shard
  from its oldest record. A stream nobody reads is trimmed by age only;
- adds the records past the stream's retention (the Kinesis stream's, 24 hours for DynamoDB Streams), which
  AWS drops too and a restore would drop anyway;
- deletes those records from the data directory (``kinesis.trim``, ``dynamodb.trim_stream``, which keep
  each shard's numbering going above them after a restart) and from moto's shards.

In moto's memory a Kinesis shard keeps its newest record (moto numbers the next one after it) and a
DynamoDB Stream shard starts at its oldest kept record (``starting_sequence_number``, as after a restore).
A reader resuming ``AFTER_SEQUENCE_NUMBER`` its checkpoint gets exactly the records after it, and one
positioned before the oldest kept record (``TRIM_HORIZON``, or a checkpoint older than the retention) gets
the oldest kept record first, as on AWS.

Two other things in moto grow with every event and nothing reads them: the DynamoDB Streams shard iterators
(one per GetRecords call, kept for good; a poller makes five a second) and the CloudWatch data points moto
adds for every Kinesis put. Iterators that were used are dropped once AWS would have expired them (15 minutes
after they were issued); moto's Kinesis data points after an hour.

Locking: Kinesis puts are serialized by ``kinesis._PUTS``; trimming holds it too. A shard's in-memory
records are read (GetRecords), appended and trimmed under one more lock, so a read never sees a shard being
changed. DynamoDB Stream records are appended under ``atomic_dynamodb._LOCK``; reads (GetShardIterator,
GetRecords) and trimming share a lock of their own, taken after it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from marketplace.local.atomic_dynamodb import _LOCK as _DYNAMODB_WRITES
from marketplace.local.durable import dynamodb as durable_dynamodb
from marketplace.local.durable import kinesis as durable_kinesis
from marketplace.local.durable.kinesis import _PUTS as _KINESIS_PUTS
from marketplace.local.durable.store import DataStore
from marketplace.local.pollers import Checkpointer

log = logging.getLogger("marketplace.local")

INTERVAL_SECONDS = 60.0
ITERATOR_SECONDS = 15 * 60.0  # how long AWS honours a DynamoDB Streams shard iterator
METRICS_SECONDS = 3600.0  # moto's own CloudWatch data points for Kinesis puts

_KINESIS_MEMORY = threading.RLock()  # a Kinesis shard's record dict: put, GetRecords, trim
_STREAMS_MEMORY = threading.RLock()  # a DynamoDB Stream shard's records and the iterators: reads, trim
_INSTALL_LOCK = threading.Lock()
_INSTALLED = "_marketplace_retention"
_ISSUED = "_marketplace_issued"  # when a DynamoDB Streams iterator was made (time.time())
_USED = "_marketplace_used"  # a GetRecords call was made with it

StreamKind = Literal["kinesis", "dynamodb"]


class MemoryCheckpoints:
    """A consumer's positions when there is no data directory: gone at stop, like the stream itself."""

    def __init__(self) -> None:
        self._done: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, shard_id: str) -> str | None:
        with self._lock:
            return self._done.get(shard_id)

    def set(self, shard_id: str, sequence: str) -> None:
        with self._lock:
            self._done[shard_id] = str(sequence)


@dataclass(frozen=True)
class Consumer:
    """One reader of a stream: its checkpoint name (``Checkpoints``' consumer) and where it keeps them."""

    name: str
    checkpoints: Checkpointer


@dataclass(frozen=True)
class RetainedStream:
    """A stream to trim: a Kinesis stream by name, or the stream of a DynamoDB table by table name."""

    kind: StreamKind
    name: str
    consumers: tuple[Consumer, ...] = ()

    @classmethod
    def from_arn(cls, kind: StreamKind, arn: str, consumers: Iterable[Consumer] = ()) -> RetainedStream:
        """``arn:...:stream/<name>`` (Kinesis) or ``arn:...:table/<table>/stream/<label>`` (DynamoDB)."""
        resource = arn.split(":", 5)[5]
        name = resource.split("/")[1]
        return cls(kind, name, tuple(consumers))


@dataclass
class Report:
    """What one pass dropped."""

    stored: int = 0  # stream records deleted from the data directory
    memory: int = 0  # stream records dropped from moto's memory
    iterators: int = 0  # DynamoDB Streams shard iterators
    metrics: int = 0  # moto's CloudWatch data points of Kinesis puts

    def __bool__(self) -> bool:
        return bool(self.stored or self.memory or self.iterators or self.metrics)


# --------------------------------------------------------------------------------------------- hooks


def install() -> None:
    """Serialize moto's in-memory stream reads and appends with trimming (idempotent). Installs the Kinesis
    hooks too (inert without an active store): they serialize puts, which trimming relies on."""
    durable_kinesis.install()
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
    from moto.kinesis.models import Shard

    with _INSTALL_LOCK:
        for owner, name, wrapper in (
            (Shard, "put_record", _locked(_KINESIS_MEMORY)),
            (Shard, "get_records", _locked(_KINESIS_MEMORY)),
            (DynamoDBStreamsBackend, "get_shard_iterator", _locked(_STREAMS_MEMORY)),
            (ShardIterator, "__init__", _issued),
            (ShardIterator, "get", _used),
        ):
            original = getattr(owner, name)
            if not getattr(original, _INSTALLED, False):
                setattr(owner, name, wrapper(original))


def _locked(lock: threading.RLock) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(operation: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(operation)
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return operation(*args, **kwargs)

        setattr(run, _INSTALLED, True)
        return run

    return wrap


def _issued(operation: Callable[..., Any]) -> Callable[..., Any]:
    """A new iterator reads its shard's position under the lock (LATEST is two fields) and is stamped."""

    @functools.wraps(operation)
    def run(iterator: Any, *args: Any, **kwargs: Any) -> None:
        with _STREAMS_MEMORY:
            operation(iterator, *args, **kwargs)
            setattr(iterator, _ISSUED, time.time())

    setattr(run, _INSTALLED, True)
    return run


def _used(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def run(iterator: Any, *args: Any, **kwargs: Any) -> Any:
        with _STREAMS_MEMORY:
            setattr(iterator, _USED, True)
            return operation(iterator, *args, **kwargs)

    setattr(run, _INSTALLED, True)
    return run


class TrimmableStreamShard(durable_dynamodb.RestoredStreamShard):
    """A DynamoDB Stream shard whose oldest records may be dropped while it is read: a read takes the
    shard's first sequence number and its records together."""

    def get(self, start: int, quantity: int) -> list[dict[str, Any]]:
        with _STREAMS_MEMORY:
            return super().get(start, quantity)


def _trimmable(shard: Any) -> None:
    if not isinstance(shard, TrimmableStreamShard):
        with _STREAMS_MEMORY:
            shard.__class__ = TrimmableStreamShard


# --------------------------------------------------------------------------------------------- moto


def _kinesis_stream(name: str) -> Any:
    from moto.kinesis.models import kinesis_backends

    for _, _, backend in kinesis_backends.iter_backends():
        stream = backend.streams.get(name)  # type: ignore[attr-defined]
        if stream is not None:
            return stream
    return None


def _table(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    for _, _, backend in dynamodb_backends.iter_backends():
        table = backend.tables.get(name)  # type: ignore[attr-defined]
        if table is not None:
            return table
    return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _kinesis_expired(shard: Any, horizon: float) -> int | None:
    """The highest sequence number of the records that arrived before ``horizon``."""
    expired = None
    with _KINESIS_MEMORY:
        for sequence, record in shard.records.items():
            if record.created_at >= horizon:
                break
            expired = int(sequence)
    return expired


def _drop_kinesis(shard: Any, up_to: int) -> int:
    """Drop a shard's records up to ``up_to`` (included) from moto's memory, all but its newest."""
    with _KINESIS_MEMORY:
        records = shard.records
        doomed = list(itertools.takewhile(lambda sequence: int(sequence) <= up_to,
                                          itertools.islice(records, max(0, len(records) - 1))))
        for sequence in doomed:
            del records[sequence]
    return len(doomed)


def _dynamodb_expired(shard: Any, horizon: datetime) -> int | None:
    count = 0
    for record in shard.items:
        created = record.record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        if not isinstance(created, datetime) or _utc(created) >= horizon:
            break
        count += 1
    return int(shard.starting_sequence_number) + count - 1 if count else None


def _drop_dynamodb(table: Any, shard: Any, up_to: int) -> int:
    with _DYNAMODB_WRITES, _STREAMS_MEMORY:  # no write appends, no read reads, meanwhile
        if table.stream_shard is not shard:
            return 0
        drop = min(len(shard.items), up_to - int(shard.starting_sequence_number) + 1)
        if drop <= 0:
            return 0
        del shard.items[:drop]
        shard.starting_sequence_number += drop
    return drop


def _drop_iterators(now: float) -> int:
    """DynamoDB Streams iterators that were used and that AWS would have expired."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    dropped = 0
    for _, _, backend in dynamodbstreams_backends.iter_backends():
        iterators = backend.shard_iterators  # type: ignore[attr-defined]
        with _STREAMS_MEMORY:
            stale = []
            for arn, iterator in iterators.items():
                issued = getattr(iterator, _ISSUED, None)
                if issued is None:  # made before the hooks: counted from now
                    setattr(iterator, _ISSUED, now)
                elif getattr(iterator, _USED, False) and issued < now - ITERATOR_SECONDS:
                    stale.append(arn)
            for arn in stale:
                del iterators[arn]
        dropped += len(stale)
    return dropped


def _drop_metrics(stream: Any, now: float) -> int:
    """moto's CloudWatch data points for the puts to ``stream`` older than ``METRICS_SECONDS``."""
    from moto.cloudwatch.models import cloudwatch_backends

    horizon = datetime.fromtimestamp(now - METRICS_SECONDS, UTC)

    def stale(datum: Any) -> bool:
        return (datum.namespace == "AWS/Kinesis" and isinstance(datum.timestamp, datetime)
                and _utc(datum.timestamp) < horizon
                and any(d.name == "StreamName" and d.value == stream.stream_name for d in datum.dimensions))

    data = cloudwatch_backends[stream.account_id][stream.region].metric_data
    count = len(data)
    kept = [datum for datum in data[:count] if not stale(datum)]
    if len(kept) == count:
        return 0
    data[:count] = kept  # one step: data points added meanwhile are after ``count`` and stay
    return count - len(kept)


def _highest(*cuts: int | None) -> int | None:
    known = [cut for cut in cuts if cut is not None]
    return max(known) if known else None


# --------------------------------------------------------------------------------------------- the thread


class Retention(threading.Thread):
    """Trims ``streams`` every ``interval`` seconds until ``stop`` is set; ``run_once`` is one pass.

    ``store`` is the data directory's (``None``: only moto's memory is trimmed)."""

    def __init__(self, streams: Iterable[RetainedStream], store: DataStore | None, stop: threading.Event,
                 interval: float = INTERVAL_SECONDS, clock: Callable[[], float] = time.time) -> None:
        super().__init__(name="stream-retention", daemon=True)
        install()
        self.streams = tuple(streams)
        self.store, self.interval, self._clock = store, interval, clock
        self._stop_event = stop
        self._pass = threading.Lock()
        self._stored_cut: dict[tuple[str, str, str], int] = {}  # what the store was last trimmed to
        self.passes = 0
        self.last_error: str | None = None
        for stream in self.streams:  # before any trim: a read already under way ends long before the first
            table = _table(stream.name) if stream.kind == "dynamodb" else None
            if table is not None and table.stream_shard is not None:
                _trimmable(table.stream_shard)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.run_once()
                self.last_error = None
            except Exception as error:  # a full disk, say: the next pass tries again
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("trimming stream records failed")

    def run_once(self, now: float | None = None) -> Report:
        """One pass over every stream; ``now`` (epoch seconds) decides what is past retention."""
        now = self._clock() if now is None else now
        report = Report()
        with self._pass:
            stored = self._stored_checkpoints()
            for stream in self.streams:
                if self._stop_event.is_set():
                    break
                if stream.kind == "kinesis":
                    self._kinesis(stream, now, stored, report)
                else:
                    self._dynamodb(stream, now, stored, report)
            report.iterators = _drop_iterators(now)
            self.passes += 1
        if report:
            log.debug("stream retention: %d stored and %d in-memory records, %d iterators, %d data points dropped",
                      report.stored, report.memory, report.iterators, report.metrics)
        return report

    def _stored_checkpoints(self) -> dict[str, dict[str, int]]:
        """Per shard id, the checkpoints kept in the data directory by consumer name."""
        found: dict[str, dict[str, int]] = {}
        if self.store is None:
            return found
        for key, value in self.store.scan(durable_kinesis.CHECKPOINT_KIND):
            consumer, shard_id = key.split(durable_kinesis.SEPARATOR, 1)
            found.setdefault(shard_id, {})[consumer] = int(value)
        return found

    @staticmethod
    def _consumed(stream: RetainedStream, shard_id: str, stored: dict[str, dict[str, int]]) -> int | None:
        """The last sequence number of ``shard_id`` every consumer is done with; ``None`` when one of the
        running consumers has not read the shard yet, or none runs (then only the retention applies).

        Checkpoints other consumers left in the data directory can only lower it (a consumer not running this
        time still finds its records; one of another stream whose shard has the same id holds it back)."""
        if not stream.consumers:
            return None
        positions = []
        for consumer in stream.consumers:
            done = consumer.checkpoints.get(shard_id)
            if done is None:
                return None
            positions.append(int(done))
        running = {consumer.name for consumer in stream.consumers}
        positions += [done for name, done in stored.get(shard_id, {}).items() if name not in running]
        return min(positions)

    def _kinesis(self, retained: RetainedStream, now: float, stored: dict[str, dict[str, int]],
                 report: Report) -> None:
        stream = _kinesis_stream(retained.name)
        if stream is None:
            return
        horizon = now - stream.retention_period_hours * 3600
        for shard_id, shard in list(stream.shards.items()):
            cut = _highest(self._consumed(retained, shard_id, stored), _kinesis_expired(shard, horizon))
            if cut is None:
                continue
            key = ("kinesis", retained.name, shard_id)
            if self.store is not None and cut > self._stored_cut.get(key, -1):
                report.stored += durable_kinesis.trim(self.store, retained.name, shard_id, cut)
                self._stored_cut[key] = cut
            with _KINESIS_PUTS:  # a put reads its record back (to store it) after moto added it
                report.memory += _drop_kinesis(shard, cut)
        report.metrics += _drop_metrics(stream, now)

    def _dynamodb(self, retained: RetainedStream, now: float, stored: dict[str, dict[str, int]],
                  report: Report) -> None:
        table = _table(retained.name)
        shard = table.stream_shard if table is not None else None
        if shard is None:
            return
        _trimmable(shard)
        horizon = datetime.fromtimestamp(now - durable_dynamodb.STREAM_RETENTION.total_seconds(), UTC)
        with _DYNAMODB_WRITES:
            expired = _dynamodb_expired(shard, horizon)
        cut = _highest(self._consumed(retained, shard.id, stored), expired)
        if cut is None:
            return
        key = ("dynamodb", retained.name, shard.id)
        if self.store is not None and cut > self._stored_cut.get(key, -1):
            report.stored += durable_dynamodb.trim_stream(self.store, table.name, cut)
            self._stored_cut[key] = cut
        report.memory += _drop_dynamodb(table, shard, cut)

