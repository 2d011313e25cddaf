"""Kinesis Data Firehose, locally: each ``resources.DELIVERY_STREAMS`` entry delivers its event stream into its
lake bucket the way the delivery stream ``stacks.lake`` deploys does.

What Firehose does, and this does too:
- it reads every shard of the source stream with iterators of its own (independent of the Lambda event-source
  mappings), starting at the oldest record the stream holds (``TRIM_HORIZON``);
- it buffers records and writes one object once the buffer interval has passed since the first record
  entered the buffer, or the buffer reached its size: each record's data followed by the delimiter
  (``AppendDelimiterToRecord``), GZIP-compressed, SSE-KMS with the lake key;
- the object's key is ``<prefix evaluated for the approximate arrival time (UTC) of the oldest record in it>
  <delivery stream name>-1-<yyyy-MM-dd-HH-mm-ss>-<uuid>.gz``.

Locally the interval is ``LOCAL_BUFFER_SECONDS`` instead of a minute, so the lake fills while one watches.

Guarantees (tests/integration/test_lake_delivery.py):
- complete and in order per shard: a shard's records enter the buffer in sequence order, and an object holds
  the whole buffer, so the objects of one shard, in the order they are written, hold its records in order;
- nothing twice: the buffer is emptied only when its object is written, and a failed write is retried under
  the same key, so a write that succeeded but whose answer was lost is replaced by the same object;
- nothing lost: a failed write is retried with backoff for as long as the runtime runs; meanwhile the buffer
  stops growing at its size limit and later records wait in the stream;
- on stop, what the stream still holds is read and written before the thread ends (within ``DRAIN_SECONDS``).

Restart: without a data directory the runtime's moto keeps everything in memory, so every runtime starts with an
empty stream and an empty lake, and a delivery reads its stream from the beginning. With one (``checkpoints``),
the stream and the lake survive, and so does, per shard, the last sequence number of the last object written:
after a restart the delivery reads after it (``AFTER_SEQUENCE_NUMBER``). The buffer is not kept; what it held
is read again. An object written just before a crash that kept its checkpoint from being saved is written once
more after the restart (Firehose itself checkpoints per shard and is at-least-once across its own failures).

Error objects: Firehose writes under ``error_prefix`` only records a processor failed on. Appending a
delimiter cannot fail, so neither Firehose nor this emulation writes there in this configuration.
"""

from __future__ import annotations

import gzip
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from marketplace.local.pollers import Checkpointer, Poller
from marketplace.platform import resources as r

log = logging.getLogger("marketplace.local")

LOCAL_BUFFER_SECONDS = 2.0
DRAIN_SECONDS = 8.0
READ_LIMIT = 1000
FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 5.0
DELIVERY_STREAM_VERSION = 1
FILE_EXTENSIONS = {"GZIP": ".gz"}

_EXPRESSION = re.compile(r"!\{([^:}]+):([^}]*)\}")
_DATE_FIELDS = re.compile(r"yyyy|MM|dd|HH|mm|ss")
_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def evaluate_prefix(template: str, when: datetime, *, error_output_type: str | None = None) -> str:
    """A Firehose prefix evaluated for ``when`` (in UTC, as Firehose evaluates it without a custom time zone).

    Only what the definitions use is understood: ``!{timestamp:...}`` with the Java date fields yyyy, MM, dd,
    HH, mm, ss, and ``!{firehose:error-output-type}``; anything else is refused rather than guessed.
    """
    moment = when.astimezone(UTC)

    def replace(match: re.Match[str]) -> str:
        namespace, value = match.groups()
        if namespace == "timestamp" and value and not any(c.isalpha() for c in _DATE_FIELDS.sub("", value)):
            return _DATE_FIELDS.sub(lambda field: moment.strftime(_STRFTIME[field.group(0)]), value)
        if namespace == "firehose" and value == "error-output-type" and error_output_type:
            return error_output_type
        raise ValueError(f"the local Firehose cannot evaluate {match.group(0)!r}")

    return _EXPRESSION.sub(replace, template)


def object_key(definition: r.DeliveryDef, stage: str, oldest_arrival: datetime, unique: str | None = None) -> str:
    """Where Firehose puts an object whose oldest record arrived at ``oldest_arrival``."""
    moment = oldest_arrival.astimezone(UTC)
    suffix = (f"{definition.physical_name(stage)}-{DELIVERY_STREAM_VERSION}-{moment:%Y-%m-%d-%H-%M-%S}-"
              f"{unique or uuid.uuid4()}{FILE_EXTENSIONS[definition.compression]}")
    return evaluate_prefix(definition.prefix, moment) + suffix


@dataclass(frozen=True)
class LakeObject:
    key: str
    last_modified: datetime
    records: list[bytes]  # each record's data, its delimiter removed


def read_lake(s3: Any, bucket: str, prefix: str = "", delimiter: bytes = b"\n") -> list[LakeObject]:
    """Every delivered object under ``prefix``, decompressed and split into records.

    Sorted by ``LastModified`` then key; S3 keeps ``LastModified`` in seconds, so objects written within the
    same second are not in the order they were written."""
    found: list[LakeObject] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            data = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            if data and not data.endswith(delimiter):
                raise ValueError(f"{item['Key']} does not end with the delimiter: not a complete delivery")
            records = data.split(delimiter)[:-1] if data else []
            found.append(LakeObject(item["Key"], item["LastModified"], records))
    return sorted(found, key=lambda o: (o.last_modified, o.key))


@dataclass(frozen=True)
class _Record:
    shard_id: str
    sequence: str
    data: bytes
    arrival: datetime


@dataclass(frozen=True)
class _Sealed:
    """The buffer as one object, its key fixed: every retry writes exactly this."""

    key: str
    body: bytes
    records: int
    last: dict[str, str]  # per shard, the sequence number of its last record in the object


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


class FirehoseDelivery(Poller):
    """One delivery stream: reads its Kinesis stream, writes objects into its lake bucket; see the module."""

    def __init__(
        self,
        definition: r.DeliveryDef,
        *,
        stage: str,
        stream_arn: str,
        bucket: str,
        key_id: str,
        stop: threading.Event,
        buffer_seconds: float = LOCAL_BUFFER_SECONDS,
        buffer_bytes: int | None = None,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        super().__init__(f"firehose:{definition.source}->{definition.bucket}", stop, interval)
        self._clock = clock  # when the buffer is due (tests pass their own, so timing never decides a result)
        self.definition, self.stage, self.stream_arn = definition, stage, stream_arn
        self.bucket, self.key_id = bucket, key_id
        self.buffer_seconds = buffer_seconds
        self.buffer_bytes = buffer_bytes if buffer_bytes is not None else definition.buffer_mib * 1024 * 1024
        self._delimiter = definition.delimiter.encode()
        session = boto3.session.Session()
        self.kinesis = session.client("kinesis")
        self.s3 = session.client("s3")
        self._iterators: dict[str, str | None] = {}
        self._checkpoints: dict[str, str] = {}  # per shard, the last sequence number taken into the buffer
        self._written = checkpoints  # per shard, the last sequence number in an object written (durable)
        self._buffer: list[_Record] = []
        self._buffered_bytes = 0
        self._buffer_started: float | None = None
        self._sealed: _Sealed | None = None
        self._attempts = 0
        self._retry_at = 0.0
        self.records_delivered = 0
        self.objects_written = 0
        self.write_failures = 0

    # --- the thread -------------------------------------------------------------------------------------

    def polled(self) -> None:
        """A poll may end with a failed write it handled itself: that error stays until a write succeeds."""

    def stopped(self) -> None:
        self.drain()

    def poll_once(self) -> bool:
        """Read what the shards have (while the buffer has room), write the buffer when it is due."""
        if not self._iterators or self.polls % 50 == 0:
            self._discover()
        read = self._read()
        self._flush(force=False)
        if self._sealed is None:
            self.last_error = None
        return read > 0

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Read everything the stream still holds and write it now; ``True`` when nothing is left behind."""
        deadline = time.monotonic() + timeout
        while True:
            read = 0
            try:
                if not self._iterators:
                    self._discover()
                read = self._read()
                self._flush(force=True)
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("delivery %s: %s", self.name, self.last_error)
            if read == 0 and self._sealed is None and not self._buffer:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                left = len(self._buffer) + (self._sealed.records if self._sealed else 0)
                log.error("delivery %s stopped with %d records not written to s3://%s", self.name, left, self.bucket)
                return False
            if self._sealed is not None:  # the write failed: wait before the next attempt
                time.sleep(min(self._delay(), remaining))

    def report(self) -> dict[str, Any]:
        """What ``/healthz`` shows for this delivery."""
        return {
            "alive": self.is_alive(),
            "polls": self.polls,
            "last_error": self.last_error,
            "destination": f"s3://{self.bucket}/{self.definition.prefix}",
            "records_delivered": self.records_delivered,
            "objects_written": self.objects_written,
            "records_waiting": self.records_waiting,
            "write_failures": self.write_failures,
        }

    @property
    def records_waiting(self) -> int:
        return len(self._buffer) + (self._sealed.records if self._sealed else 0)

    # --- reading ----------------------------------------------------------------------------------------

    def _discover(self) -> None:
        for shard in self.kinesis.list_shards(StreamARN=self.stream_arn)["Shards"]:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self._iterator(shard["ShardId"])

    def _iterator(self, shard_id: str) -> str:
        if shard_id not in self._checkpoints and self._written is not None:
            written = self._written.get(shard_id)
            if written is not None:
                self._checkpoints[shard_id] = written
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard_id in self._checkpoints:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                        "StartingSequenceNumber": self._checkpoints[shard_id]}
        return str(self.kinesis.get_shard_iterator(StreamARN=self.stream_arn, ShardId=shard_id,
                                                   **position)["ShardIterator"])

    def _read(self) -> int:
        """One page from each open shard while the buffer has room; the number of records taken."""
        taken = 0
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None or self._buffered_bytes >= self.buffer_bytes:
                continue
            try:
                page = self.kinesis.get_records(ShardIterator=iterator, Limit=READ_LIMIT, StreamARN=self.stream_arn)
            except self.kinesis.exceptions.ExpiredIteratorException:
                self._iterators[shard_id] = self._iterator(shard_id)  # resumes after the checkpoint
                continue
            for record in page.get("Records", []):
                data = bytes(record["Data"])
                self._buffer.append(_Record(shard_id, str(record["SequenceNumber"]), data,
                                            _utc(record["ApproximateArrivalTimestamp"])))
                self._buffered_bytes += len(data) + len(self._delimiter)
                self._checkpoints[shard_id] = str(record["SequenceNumber"])
                taken += 1
            self._iterators[shard_id] = page.get("NextShardIterator")  # None once a closed shard is read
        if self._buffer and self._buffer_started is None:
            self._buffer_started = self._clock()
        return taken

    # --- writing ----------------------------------------------------------------------------------------

    def _flush(self, *, force: bool) -> None:
        now = self._clock()
        if self._sealed is None and self._buffer:
            started = self._buffer_started if self._buffer_started is not None else now
            if force or self._buffered_bytes >= self.buffer_bytes or now - started >= self.buffer_seconds:
                self._sealed = self._seal()
        if self._sealed is not None and (force or now >= self._retry_at):
            self._write(self._sealed)

    def _seal(self) -> _Sealed:
        records = self._buffer
        self._buffer, self._buffered_bytes, self._buffer_started = [], 0, None
        body = gzip.compress(b"".join(record.data + self._delimiter for record in records))
        key = object_key(self.definition, self.stage, min(record.arrival for record in records))
        return _Sealed(key, body, len(records), {record.shard_id: record.sequence for record in records})

    def _write(self, sealed: _Sealed) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=sealed.key, Body=sealed.body,
                               ServerSideEncryption="aws:kms", SSEKMSKeyId=self.key_id)
        except (BotoCoreError, ClientError) as error:
            self._attempts += 1
            self.write_failures += 1
            self._retry_at = self._clock() + self._delay()
            self.last_error = f"writing s3://{self.bucket}/{sealed.key}: {error}"
            log.warning("delivery %s: %s (attempt %d, retried)", self.name, self.last_error, self._attempts)
            return
        self.records_delivered += sealed.records
        self.objects_written += 1
        self._sealed, self._attempts, self.last_error = None, 0, None
        if self._written is not None:
            for shard_id, sequence in sealed.last.items():
                self._written.set(shard_id, sequence)

    def _delay(self) -> float:
        return float(min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2 ** max(0, self._attempts - 1)))
