"""Event-source mappings: background pollers that deliver SQS messages, Kinesis records and DynamoDB
Stream records to their function in the event shapes AWS uses, with AWS's batch semantics.

- SQS: a batch of up to ``batch_size`` messages; messages the function reports in ``batchItemFailures``
  (or all of them, when it raises) stay on the queue and come back with a higher receive count; after the
  queue's ``maxReceiveCount`` the queue's redrive policy moves them to the dead-letter queue. The others are
  deleted. Locally a failed message becomes visible again after ``retry_delay`` instead of the full
  visibility timeout, so a retry takes seconds rather than minutes; nothing else differs.
- Kinesis and DynamoDB Streams: in order per shard. A reported failure checkpoints at the lowest failed
  sequence number and the batch is retried from there; an error bisects the batch (bisection does not count
  as a retry); after ``max_retry_attempts`` the batch is skipped and a failure record naming the shard and
  sequence range goes to the on-failure queue, as Lambda's on-failure destination does.
  With ``checkpoints`` (a data directory's), the last sequence number of each shard the poller is done with
  (the function succeeded, or the batch went to the on-failure queue) is kept, and after a restart the poller
  resumes after it instead of at its starting position, as an event-source mapping keeps its position.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import boto3

from marketplace.local.context import ACCOUNT, REGION
from marketplace.local.invoker import Invoker
from marketplace.platform.functions import FunctionDef, SqsSource, StreamSource

log = logging.getLogger("marketplace.local")


class Checkpointer(Protocol):
    """Where a stream consumer keeps, per shard, the last sequence number it is done with
    (``marketplace.local.durable.kinesis.Checkpoints``)."""

    def get(self, shard_id: str) -> str | None: ...

    def set(self, shard_id: str, sequence: str) -> None: ...


class Poller(threading.Thread):
    """Polls until stopped; sleeps ``interval`` after a poll that found nothing to do."""

    def __init__(self, name: str, stop: threading.Event, interval: float = 0.2) -> None:
        super().__init__(name=name, daemon=True)
        self._stop_event = stop
        self.interval = interval
        self.polls = 0
        self.last_error: str | None = None

    def poll_once(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def polled(self) -> None:
        """After a poll that did not raise: the last error is over."""
        self.last_error = None

    def stopped(self) -> None:
        """After the last poll, before the thread ends."""

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                busy = self.poll_once()
                self.polled()
            except Exception as error:  # the emulated AWS side must survive anything a poll meets
                busy = False
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("poller %s failed", self.name)
            self.polls += 1
            if not busy:
                self._stop_event.wait(self.interval)
        self.stopped()


def _failed_identifiers(result: object) -> set[str] | None:
    """The ``itemIdentifier`` values of a partial batch response; ``None`` means the whole batch failed."""
    if result is None or not isinstance(result, dict):
        return set()
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier:
            return None  # Lambda treats a malformed response as a failure of the whole batch
        ids.add(str(identifier))
    return ids


def _json_ready(value: Any) -> Any:
    """Turn an SDK response into what the Lambda event JSON carries (bytes as base64, times as epoch)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return float(value)
    return value


class SqsPoller(Poller):
    def __init__(self, fn: FunctionDef, source: SqsSource, queue_url: str, queue_arn: str, invoker: Invoker,
                 stop: threading.Event, retry_delay: int = 1) -> None:
        super().__init__(f"sqs:{source.queue}->{fn.name}", stop)
        self.fn, self.source, self.queue_url, self.queue_arn = fn, source, queue_url, queue_arn
        self.invoker, self.retry_delay = invoker, retry_delay
        self.sqs = boto3.session.Session().client("sqs")

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": attributes,
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def poll_once(self) -> bool:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.source.batch_size:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not received:
                break
            messages += received
        if not messages:
            return False
        event = {"Records": [self._record(m) for m in messages]}
        try:
            failed = _failed_identifiers(self.invoker.invoke(self.fn, event))
        except Exception:
            log.exception("%s failed on a batch of %d messages", self.fn.name, len(messages))
            failed = None
        done = [m for m in messages if failed is not None and m["MessageId"] not in failed]
        retry = [m for m in messages if m not in done]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        for message in retry:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_delay)
        return True


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    limit: int = 0
    attempts: int = 0
    invocations: int = 0
    retry_after: float = 0.0


@dataclass(frozen=True)
class StreamApi:
    """What differs between Kinesis and DynamoDB Streams for a poller."""

    service: str
    arn_parameter: str
    sequence_parameter: str  # GetShardIterator's name for the sequence number to start at or after
    batch_info_key: str
    list_shards: Callable[[Any, str], list[str]]
    sequence: Callable[[dict[str, Any]], str]
    arrival: Callable[[dict[str, Any]], Any]
    to_event_record: Callable[[dict[str, Any], str, str], dict[str, Any]]


def _kinesis_record(record: dict[str, Any], shard_id: str, stream_arn: str) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode(),
            "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/local",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
    }


def _dynamodb_record(record: dict[str, Any], shard_id: str, stream_arn: str) -> dict[str, Any]:
    converted = _json_ready(record)
    converted["eventSourceARN"] = stream_arn
    converted.setdefault("awsRegion", REGION)
    return dict(converted)


KINESIS = StreamApi(
    service="kinesis",
    arn_parameter="StreamARN",
    sequence_parameter="StartingSequenceNumber",
    batch_info_key="KinesisBatchInfo",
    list_shards=lambda c, arn: [s["ShardId"] for s in c.list_shards(StreamARN=arn)["Shards"]],
    sequence=lambda rec: str(rec["SequenceNumber"]),
    arrival=lambda rec: rec["ApproximateArrivalTimestamp"],
    to_event_record=_kinesis_record,
)
DYNAMODB_STREAMS = StreamApi(
    service="dynamodbstreams",
    arn_parameter="StreamArn",
    sequence_parameter="SequenceNumber",
    batch_info_key="DDBStreamBatchInfo",
    list_shards=lambda c, arn: [
        s["ShardId"] for s in c.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]],
    sequence=lambda rec: str(rec["dynamodb"]["SequenceNumber"]),
    arrival=lambda rec: rec["dynamodb"].get("ApproximateCreationDateTime"),
    to_event_record=_dynamodb_record,
)


class StreamPoller(Poller):
    def __init__(self, fn: FunctionDef, source: StreamSource, stream_arn: str, failure_queue_url: str,
                 invoker: Invoker, stop: threading.Event, retry_delay: float = 0.5,
                 checkpoints: Checkpointer | None = None) -> None:
        super().__init__(f"{source.kind}:{source.source}->{fn.name}", stop)
        self.checkpoints = checkpoints
        self.fn, self.source, self.stream_arn = fn, source, stream_arn
        self.failure_queue_url, self.invoker, self.retry_delay = failure_queue_url, invoker, retry_delay
        self.api = KINESIS if source.kind == "kinesis" else DYNAMODB_STREAMS
        session = boto3.session.Session()
        self.client = session.client(self.api.service)
        self.sqs = session.client("sqs")
        self.shards: dict[str, _Shard] = {}

    def _discover(self) -> None:
        for shard_id in self.api.list_shards(self.client, self.stream_arn):
            if shard_id in self.shards:
                continue
            position: dict[str, str] = {"ShardIteratorType": self.source.starting_position}
            done = self.checkpoints.get(shard_id) if self.checkpoints is not None else None
            if done is not None:
                position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", self.api.sequence_parameter: done}
            iterator = self.client.get_shard_iterator(**{
                self.api.arn_parameter: self.stream_arn, "ShardId": shard_id, **position})["ShardIterator"]
            self.shards[shard_id] = _Shard(shard_id, iterator, limit=self.source.batch_size)

    def poll_once(self) -> bool:
        if not self.shards or self.polls % 50 == 0:
            self._discover()
        busy = False
        for shard in self.shards.values():
            busy = self._poll_shard(shard) or busy
        return busy

    def _poll_shard(self, shard: _Shard) -> bool:
        if shard.iterator and len(shard.pending) < self.source.batch_size:
            request: dict[str, Any] = {"ShardIterator": shard.iterator,
                                       "Limit": self.source.batch_size - len(shard.pending)}
            if self.api.service == "kinesis":
                request["StreamARN"] = self.stream_arn  # moto resolves ARN-made iterators only with it
            page = self.client.get_records(**request)
            shard.pending += page.get("Records", [])
            shard.iterator = page.get("NextShardIterator")
        if not shard.pending or time.monotonic() < shard.retry_after:
            return False
        batch = shard.pending[: shard.limit]
        event = {"Records": [self.api.to_event_record(r, shard.shard_id, self.stream_arn) for r in batch]}
        shard.invocations += 1
        try:
            failed = _failed_identifiers(self.invoker.invoke(self.fn, event))
        except Exception:
            log.exception("%s failed on a batch of %d records", self.fn.name, len(batch))
            failed = None
        if failed == set():
            del shard.pending[: len(batch)]
            shard.attempts, shard.limit = 0, self.source.batch_size
            self._checkpoint(shard, batch[-1])
            return True
        sequences = [self.api.sequence(r) for r in batch]
        if failed is not None:
            known = [s for s in sequences if s in failed]
            if not known:
                failed = None  # identifiers that name no record in the batch: the whole batch failed
            else:
                checkpoint = sequences.index(min(known, key=int))
                del shard.pending[:checkpoint]  # the records before the failure are done
                if checkpoint:
                    self._checkpoint(shard, batch[checkpoint - 1])
                batch = batch[checkpoint:]
        shard.retry_after = time.monotonic() + self.retry_delay
        if self.source.bisect_batch_on_error and len(batch) > 1:
            shard.limit = max(1, len(batch) // 2)
            return True
        shard.attempts += 1
        if shard.attempts > self.source.max_retry_attempts:
            self._send_failure(shard, batch)
            del shard.pending[: len(batch)]
            shard.attempts, shard.limit, shard.retry_after = 0, self.source.batch_size, 0.0
            self._checkpoint(shard, batch[-1])
        return True

    def _checkpoint(self, shard: _Shard, record: dict[str, Any]) -> None:
        """The shard is done up to ``record`` (included): a restart resumes after it."""
        if self.checkpoints is not None:
            self.checkpoints.set(shard.shard_id, self.api.sequence(record))

    def _send_failure(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        def when(record: dict[str, Any]) -> str | None:
            value = self.api.arrival(record)
            if isinstance(value, datetime):
                return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            return None

        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.fn.name}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.invocations,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            self.api.batch_info_key: {
                "shardId": shard.shard_id,
                "startSequenceNumber": self.api.sequence(batch[0]),
                "endSequenceNumber": self.api.sequence(batch[-1]),
                "approximateArrivalOfFirstRecord": when(batch[0]),
                "approximateArrivalOfLastRecord": when(batch[-1]),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(message))
        log.error("%s gave up on %d records of %s; failure record sent to its on-failure queue",
                  self.fn.name, len(batch), shard.shard_id)
