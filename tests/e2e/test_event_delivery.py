"""Event-source emulation: SQS, Kinesis and DynamoDB Stream records reach their function in AWS's event
shapes (checked with Powertools' parser models of those events), a failed record is retried, and a record
that never succeeds ends in the dead-letter or on-failure queue instead of being lost."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel, KinesisDataStreamModel, SqsModel

from marketplace.local.runtime import LocalMarketplace
from marketplace.platform import resources as r
from marketplace.platform.functions import INGEST, SEARCH_INDEXER, STATS
from tests.e2e.conftest import http, wait_until

pytestmark = pytest.mark.slow


class Recorder:
    """Fake function bodies: they record what they are given and fail on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sqs: Counter[str] = Counter()
        self.kinesis: Counter[str] = Counter()
        self.dynamodb: list[str] = []
        self.dynamodb_calls = 0
        self.receive_counts: dict[str, list[int]] = {}

    def ingest(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        model = SqsModel.model_validate(event)
        failures = []
        with self.lock:
            for record in model.Records:
                body = str(record.body)
                self.sqs[body] += 1
                self.receive_counts.setdefault(body, []).append(int(record.attributes.ApproximateReceiveCount))
                if body == "poison" or (body == "flaky" and self.sqs[body] == 1):
                    failures.append({"itemIdentifier": record.messageId})
        return {"batchItemFailures": failures}

    def stats(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        model = KinesisDataStreamModel.model_validate(event)
        with self.lock:
            for record in model.Records:
                data = bytes(record.kinesis.data).decode()  # type: ignore[arg-type]
                self.kinesis[data] += 1
                if data == "poison" or (data == "flaky" and self.kinesis[data] == 1):
                    return {"batchItemFailures": [{"itemIdentifier": record.kinesis.sequenceNumber}]}
        return {"batchItemFailures": []}

    def indexer(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        model = DynamoDBStreamModel.model_validate(event)
        with self.lock:
            self.dynamodb_calls += 1
            if self.dynamodb_calls == 1:
                raise RuntimeError("the first invocation fails as a whole")
            self.dynamodb += [str(record.dynamodb.Keys["pk"]) for record in model.Records]
        return {"batchItemFailures": []}


@pytest.fixture(scope="module")
def runtime() -> Iterator[tuple[LocalMarketplace, Recorder]]:
    recorder = Recorder()
    marketplace = LocalMarketplace(
        port=0,
        functions=(INGEST, STATS, SEARCH_INDEXER),
        handler_overrides={"ingest": recorder.ingest, "stats": recorder.stats,
                           "search_indexer": recorder.indexer},
        sqs_retry_delay=1,
        stream_retry_delay=0.1,
    )
    with marketplace:
        yield marketplace, recorder


def _client(runtime: LocalMarketplace, service: str) -> Any:
    return boto3.session.Session().client(service, endpoint_url=runtime.moto_endpoint)


def _messages(runtime: LocalMarketplace, queue: r.QueueDef) -> list[dict[str, Any]]:
    sqs = _client(runtime, "sqs")
    assert runtime.deployment is not None
    url = runtime.deployment.queue_urls[queue.id]
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", []))


def test_healthy(runtime):
    marketplace, _ = runtime
    status, _, body = http("GET", f"{marketplace.base_url}/healthz")
    assert status == 200, body


def test_sqs_failed_message_is_retried_and_poison_goes_to_the_dead_letter_queue(runtime):
    marketplace, recorder = runtime
    assert marketplace.deployment is not None
    sqs = _client(marketplace, "sqs")
    url = marketplace.deployment.queue_urls[r.INGEST_QUEUE.id]
    for body in ("first", "flaky", "poison", "last"):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    wait_until(lambda: recorder.sqs["flaky"] == 2 and recorder.sqs["first"] and recorder.sqs["last"], timeout=30)
    assert recorder.sqs["first"] == 1 and recorder.sqs["last"] == 1
    assert recorder.receive_counts["flaky"] == [1, 2]

    dead = wait_until(lambda: _messages(marketplace, r.INGEST_DLQ), timeout=60)
    assert [m["Body"] for m in dead] == ["poison"]
    assert recorder.sqs["poison"] == r.INGEST_QUEUE.max_receive_count
    assert recorder.receive_counts["poison"] == list(range(1, r.INGEST_QUEUE.max_receive_count + 1))


def test_kinesis_failed_record_is_retried_in_order_and_poison_goes_to_the_on_failure_queue(runtime):
    marketplace, recorder = runtime
    kinesis = _client(marketplace, "kinesis")
    stream = r.EVENTS_STREAM.physical_name("local")
    for data in ("k1", "k2", "flaky", "k3", "poison", "k4"):
        kinesis.put_record(StreamName=stream, Data=data.encode(), PartitionKey="one-shard")

    wait_until(lambda: recorder.kinesis["k4"] >= 1, timeout=60)
    # the records before the failure are done; the failed one and those after it are delivered again
    assert recorder.kinesis["k1"] == 1 and recorder.kinesis["k2"] == 1
    assert recorder.kinesis["flaky"] == 2
    # the first try, then max_retry_attempts retries (bisecting a batch first does not count as a retry)
    assert recorder.kinesis["poison"] >= STATS.source.max_retry_attempts + 1  # type: ignore[union-attr]
    assert recorder.kinesis["k4"] == 1

    [failure] = wait_until(lambda: _messages(marketplace, r.STATS_DLQ), timeout=30)
    info = json.loads(failure["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["KinesisBatchInfo"]["batchSize"] == 1
    assert info["KinesisBatchInfo"]["streamArn"].endswith(f"stream/{stream}")
    assert info["KinesisBatchInfo"]["startSequenceNumber"] == info["KinesisBatchInfo"]["endSequenceNumber"]


def test_dynamodb_stream_batch_failure_is_retried_and_nothing_is_lost(runtime):
    marketplace, recorder = runtime
    dynamodb = _client(marketplace, "dynamodb")
    table = r.EXTENSIONS_TABLE.physical_name("local")
    keys = [f"EXT#pub.e{i}" for i in range(5)]
    for pk in keys:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": "EXTENSION"}})

    wait_until(lambda: set(recorder.dynamodb) >= set(keys), timeout=30)
    assert recorder.dynamodb_calls >= 2
    assert recorder.dynamodb == keys  # in order, none twice: the failed invocation recorded nothing
    assert not _messages(marketplace, r.INDEXER_DLQ)
