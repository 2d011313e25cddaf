"""The local Firehose delivery against moto: records put on the event stream end up in the lake bucket as
GZIP JSON lines under the day's prefix, complete, in order per shard, once; failed writes are retried and
lose nothing; stopping writes what the stream still holds; a new delivery reads the stream from its start.

The delivery is driven step by step (``poll_once``, ``drain``) so that each step's objects are known."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from marketplace.local.firehose import FirehoseDelivery, LakeObject, evaluate_prefix, read_lake
from marketplace.local.provision import Deployment
from marketplace.platform import resources as r

DELIVERY = r.EVENTS_TO_LAKE
STAGE = "test"  # the integration deployment fixture provisions this stage


@dataclass
class Put:
    """What was put on the stream: each record's data with the shard and sequence number Kinesis gave it."""

    records: list[tuple[bytes, str, int]] = field(default_factory=list)

    def by_shard(self) -> dict[str, list[bytes]]:
        shards: dict[str, list[tuple[int, bytes]]] = {}
        for data, shard, sequence in self.records:
            shards.setdefault(shard, []).append((sequence, data))
        return {shard: [data for _, data in sorted(items)] for shard, items in shards.items()}


@dataclass
class Lake:
    deployment: Deployment
    stop: threading.Event
    put: Put = field(default_factory=Put)
    seen: set[str] = field(default_factory=set)

    @property
    def bucket(self) -> str:
        return self.deployment.bucket_names[DELIVERY.bucket]

    def delivery(self, **options: Any) -> FirehoseDelivery:
        settings: dict[str, Any] = {"buffer_seconds": 0.0, **options}
        return FirehoseDelivery(
            DELIVERY, stage=STAGE, stream_arn=self.deployment.stream_arns[DELIVERY.source],
            bucket=settings.pop("bucket", self.bucket), key_id=self.deployment.key_ids[r.LAKE_KEY.id],
            stop=self.stop, **settings,
        )

    def put_records(self, count: int, start: int = 0, keys: int = 16) -> None:
        kinesis = boto3.client("kinesis")
        for n in range(start, start + count):
            data = json.dumps({"type": "install", "n": n, "extension": f"pub.ext{n % keys}"}).encode()
            answer = kinesis.put_record(StreamName=DELIVERY_STREAM_NAME, Data=data, PartitionKey=f"pub.ext{n % keys}")
            self.put.records.append((data, answer["ShardId"], int(answer["SequenceNumber"])))

    def new_objects(self) -> list[LakeObject]:
        """The objects written since the last call."""
        objects = [o for o in read_lake(boto3.client("s3"), self.bucket) if o.key not in self.seen]
        self.seen |= {o.key for o in objects}
        return objects


DELIVERY_STREAM_NAME = r.stream(DELIVERY.source).physical_name(STAGE)


@pytest.fixture
def lake(deployment: Deployment) -> Iterator[Lake]:
    stop = threading.Event()
    yield Lake(deployment, stop)
    stop.set()


def _in_shard_order(put: Put, objects: list[LakeObject]) -> dict[str, list[bytes]]:
    """The delivered records of each shard, in the order the objects were written."""
    shard_of = {data: shard for data, shard, _ in put.records}
    delivered: dict[str, list[bytes]] = {}
    for lake_object in objects:
        for record in lake_object.records:
            delivered.setdefault(shard_of[record], []).append(record)
    return delivered


def test_records_arrive_complete_in_order_per_shard_and_once(lake: Lake):
    delivery = lake.delivery()
    written: list[LakeObject] = []
    for step in range(3):
        lake.put_records(60, start=60 * step)
        assert delivery.poll_once() is True
        (new,) = lake.new_objects()  # one flush, one object
        assert len(new.records) == 60
        written.append(new)
    assert delivery.poll_once() is False and lake.new_objects() == []  # nothing more to read, nothing rewritten

    expected = lake.put.by_shard()
    assert len(expected) > 1  # the records were spread over several shards
    assert _in_shard_order(lake.put, written) == expected
    delivered = [record for o in written for record in o.records]
    assert len(delivered) == len(set(delivered)) == 180
    assert all(json.loads(record)["type"] == "install" for record in delivered)
    assert delivery.records_delivered == 180 and delivery.objects_written == 3 and delivery.records_waiting == 0


def test_objects_are_gzip_json_lines_under_the_days_prefix_encrypted_with_the_lake_key(lake: Lake):
    before = datetime.now(UTC)
    lake.put_records(5)
    after = datetime.now(UTC)
    lake.delivery().poll_once()
    (lake_object,) = lake.new_objects()
    prefix, name = lake_object.key.rsplit("/", 1)
    assert prefix + "/" in {evaluate_prefix(DELIVERY.prefix, moment) for moment in (before, after)}  # midnight-proof
    found = re.fullmatch(rf"{re.escape(DELIVERY.physical_name(STAGE))}-1-(\d{{4}})-(\d\d)-(\d\d)-\d\d-\d\d-\d\d-"
                         r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.gz", name)
    assert found and prefix == "events/year={}/month={}/day={}".format(*found.groups())

    s3 = boto3.client("s3")
    stored = s3.get_object(Bucket=lake.bucket, Key=lake_object.key)
    body = stored["Body"].read()
    assert body[:2] == b"\x1f\x8b" and "ContentEncoding" not in stored  # stored compressed, as Firehose does
    text = gzip.decompress(body).decode()
    assert text.endswith("\n") and "\n\n" not in text
    lines = [line.encode() for line in text.split("\n")[:-1]]
    assert _in_shard_order(lake.put, [LakeObject(lake_object.key, lake_object.last_modified, lines)]) == (
        lake.put.by_shard())
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"].endswith(lake.deployment.key_ids[r.LAKE_KEY.id])


def test_the_buffer_is_written_when_its_interval_passes(lake: Lake):
    now = [1000.0]
    delivery = lake.delivery(buffer_seconds=0.5, clock=lambda: now[0])
    lake.put_records(10)
    delivery.poll_once()
    assert lake.new_objects() == [] and delivery.records_waiting == 10  # buffered, not yet due
    lake.put_records(5, start=10)
    now[0] += 0.4
    delivery.poll_once()
    assert lake.new_objects() == [] and delivery.records_waiting == 15
    now[0] += 0.2
    delivery.poll_once()
    (lake_object,) = lake.new_objects()
    assert sorted(lake_object.records) == sorted(data for data, _, _ in lake.put.records)


def test_a_full_buffer_is_written_at_once_and_reading_pauses_while_it_is_full(lake: Lake):
    record_size = len(json.dumps({"type": "install", "n": 10, "extension": "pub.ext10"})) + 1
    delivery = lake.delivery(buffer_seconds=3600, buffer_bytes=5 * record_size)
    lake.put_records(40, keys=1)  # one partition key: one shard, read 1,000 records a page
    delivery.poll_once()
    (first,) = lake.new_objects()
    assert len(first.records) == 40  # a page may overshoot the size, as Firehose's buffers do
    lake.put_records(3, start=40, keys=1)
    delivery.poll_once()
    assert lake.new_objects() == [] and delivery.records_waiting == 3  # below the size, not due


def test_failed_writes_are_retried_under_the_same_key_and_lose_nothing(lake: Lake):
    missing = f"{lake.bucket}-not-yet"
    delivery = lake.delivery(bucket=missing, buffer_bytes=1)  # every page read fills the buffer
    lake.put_records(20, keys=1)  # one shard: one page
    delivery.poll_once()
    assert delivery.write_failures == 1 and delivery.records_waiting == 20
    assert delivery.last_error is not None and "NoSuchBucket" in delivery.last_error
    lake.put_records(20, start=20, keys=1)
    delivery.poll_once()  # read into the buffer behind the unwritten object, which is now full too
    assert delivery.records_waiting == 40
    lake.put_records(20, start=40, keys=1)
    delivery.poll_once()  # a full buffer reads no more: these wait in the stream
    assert delivery.records_waiting == 40

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=missing)
    deadline = time.monotonic() + 10
    while delivery.records_delivered < 60 and time.monotonic() < deadline:
        delivery.poll_once()
        time.sleep(0.05)
    assert delivery.last_error is None and delivery.records_waiting == 0
    objects = read_lake(s3, missing)
    assert len(objects) == delivery.objects_written == 3
    delivered = [record for o in objects for record in o.records]
    assert sorted(delivered) == sorted(data for data, _, _ in lake.put.records)  # all of them, once
    # one shard: each object holds a run of it in order, and the runs add up to the whole shard
    runs = sorted([json.loads(record)["n"] for record in o.records] for o in objects)
    assert [n for run in runs for n in run] == list(range(60))


def test_a_write_whose_answer_was_lost_is_not_duplicated(lake: Lake):
    delivery = lake.delivery()
    real_put = delivery.s3.put_object
    calls: list[str] = []

    def put_then_lose_the_answer(**request: Any) -> Any:
        calls.append(request["Key"])
        answer = real_put(**request)
        if len(calls) == 1:
            raise ReadTimeoutError(endpoint_url="s3")
        return answer

    delivery.s3.put_object = put_then_lose_the_answer
    lake.put_records(12)
    delivery.poll_once()
    assert delivery.write_failures == 1 and delivery.records_waiting == 12
    time.sleep(0.3)
    delivery.poll_once()
    assert calls[0] == calls[1]  # the retry wrote the same object again
    (lake_object,) = lake.new_objects()
    assert len(lake_object.records) == 12 and delivery.records_delivered == 12


def test_stopping_writes_what_the_stream_still_holds(lake: Lake):
    delivery = lake.delivery(buffer_seconds=3600, interval=0.05)
    delivery.start()
    lake.put_records(30)
    deadline = time.monotonic() + 10
    while delivery.records_waiting < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    lake.put_records(7, start=30)  # put after the last poll may have run: the drain reads them
    lake.stop.set()
    delivery.join(timeout=15)
    assert not delivery.is_alive()
    delivered = [record for o in lake.new_objects() for record in o.records]
    assert sorted(delivered) == sorted(data for data, _, _ in lake.put.records)


def test_a_new_delivery_reads_the_stream_from_its_start(lake: Lake):
    """Restart semantics: a delivery keeps no checkpoint outside itself, so one started against a stream
    that already holds records delivers them all (TRIM_HORIZON). The local runtime starts one delivery per
    run, against a stream its own moto has just created, so this never redelivers anything there."""
    lake.put_records(8)
    lake.delivery().poll_once()
    lake.delivery().poll_once()
    first, second = lake.new_objects()
    assert sorted(first.records) == sorted(second.records) == sorted(d for d, _, _ in lake.put.records)
