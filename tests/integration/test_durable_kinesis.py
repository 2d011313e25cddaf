"""Kinesis records survive a restart of the local runtime with their shard ids and sequence numbers; consumers'
checkpoints survive too, and the stream poller and the Firehose delivery resume after them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from marketplace.local import durable
from marketplace.local.durable import kinesis as durable_kinesis
from marketplace.local.durable.kinesis import Checkpoints
from marketplace.local.durable.store import DataStore
from marketplace.local.firehose import FirehoseDelivery, read_lake
from marketplace.local.invoker import Invoker
from marketplace.local.pollers import StreamPoller
from marketplace.local.provision import provision
from marketplace.platform import resources as r
from marketplace.platform.functions import FUNCTIONS, StreamSource
from tests.integration.durable import active_store

STREAM = "events"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataStore]:
    with active_store(tmp_path, monkeypatch, durable_kinesis.install) as data:
        yield data


def _stream(kinesis: Any, retention_hours: int = 24) -> None:
    kinesis.create_stream(StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    if retention_hours != 24:
        kinesis.increase_stream_retention_period(StreamName=STREAM, RetentionPeriodHours=retention_hours)


def _put(kinesis: Any, count: int, start: int = 0) -> list[tuple[str, str, bytes]]:
    """``(shard id, sequence number, data)`` of each record put, one PutRecord and one PutRecords call."""
    put = []
    half = count // 2
    for n in range(start, start + half):
        answer = kinesis.put_record(StreamName=STREAM, Data=f"r{n}".encode(), PartitionKey=f"k{n}")
        put.append((answer["ShardId"], answer["SequenceNumber"], f"r{n}".encode()))
    entries: list[dict[str, Any]] = [
        {"Data": f"r{n}".encode(), "PartitionKey": f"k{n}"} for n in range(start + half, start + count)]
    answers = kinesis.put_records(StreamName=STREAM, Records=entries)["Records"]
    put += [(a["ShardId"], a["SequenceNumber"], e["Data"]) for a, e in zip(answers, entries, strict=True)]
    return put


def _read(kinesis: Any, shard_id: str, **position: str) -> list[dict[str, Any]]:
    position = position or {"ShardIteratorType": "TRIM_HORIZON"}
    iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard_id, **position)["ShardIterator"]
    return list(kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"])


def _newest_arrival(store: DataStore) -> float:
    return max(float(json.loads(value)["approximate_arrival_timestamp"]) for _, value in store.scan("kinesis"))


def _shards(kinesis: Any) -> list[str]:
    return [s["ShardId"] for s in kinesis.list_shards(StreamName=STREAM)["Shards"]]


def test_records_survive_a_restart_with_their_shards_and_sequence_numbers(store: DataStore) -> None:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        put = _put(kinesis, 40)
        before = {shard: _read(kinesis, shard) for shard in _shards(kinesis)}
    assert len({shard for shard, _, _ in put}) > 1
    assert len(list(store.scan("kinesis"))) == 40

    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        durable_kinesis.restore(store)
        after = {shard: _read(kinesis, shard) for shard in _shards(kinesis)}
        assert after == before
        # new records continue above the restored ones
        for shard, sequence, _ in _put(kinesis, 10, start=100):
            assert int(sequence) > max(int(r["SequenceNumber"]) for r in before[shard])
        assert len(list(store.scan("kinesis"))) == 50


def test_reading_after_a_checkpoint_returns_exactly_the_later_records(store: DataStore) -> None:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        put = _put(kinesis, 30)
    shard = put[0][0]
    in_shard = [(sequence, data) for s, sequence, data in put if s == shard]
    checkpoints = Checkpoints(store, "consumer")
    checkpoints.set(shard, in_shard[1][0])
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        durable_kinesis.restore(store)
        done = checkpoints.get(shard)
        assert done is not None
        later = _read(kinesis, shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=done)
        assert [(r["SequenceNumber"], r["Data"]) for r in later] == in_shard[2:]


def test_records_past_retention_are_dropped_and_numbering_continues(store: DataStore) -> None:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        put = _put(kinesis, 20)
    highest: dict[str, int] = {}
    for shard, sequence, _ in put:
        highest[shard] = max(highest.get(shard, 0), int(sequence))
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        newest = _newest_arrival(store)
        durable_kinesis.restore(store, now=newest + 25 * 3600)
        assert all(_read(kinesis, shard) == [] for shard in _shards(kinesis))
        assert list(store.scan("kinesis")) == []
        for shard, sequence, _ in _put(kinesis, 8, start=100):
            assert int(sequence) > highest.get(shard, 0)
    with mock_aws():  # the floor is kept for the next restart too
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        durable_kinesis.restore(store)
        for shard, sequence, _ in _put(kinesis, 8, start=200):
            assert int(sequence) > highest.get(shard, 0)


def test_a_longer_retention_keeps_older_records(store: DataStore) -> None:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis, retention_hours=48)
        _put(kinesis, 6)
    newest = _newest_arrival(store)
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis, retention_hours=48)
        durable_kinesis.restore(store, now=newest + 25 * 3600)
        assert sum(len(_read(kinesis, shard)) for shard in _shards(kinesis)) == 6


def test_trim_deletes_a_shards_stored_records_up_to_a_sequence_number(store: DataStore) -> None:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        put = _put(kinesis, 30)
    shard = put[0][0]
    in_shard = [sequence for s, sequence, _ in put if s == shard]
    assert durable_kinesis.trim(store, STREAM, shard, in_shard[-1]) == len(in_shard)
    assert len(list(store.scan("kinesis"))) == 30 - len(in_shard)
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        durable_kinesis.restore(store)
        assert _read(kinesis, shard) == []
        answer = kinesis.put_record(StreamName=STREAM, Data=b"x", PartitionKey="k",
                                    ExplicitHashKey=_hash_key(kinesis, shard))
        assert answer["ShardId"] == shard and int(answer["SequenceNumber"]) == int(in_shard[-1]) + 1


def _hash_key(kinesis: Any, shard_id: str) -> str:
    (shard,) = [s for s in kinesis.list_shards(StreamName=STREAM)["Shards"] if s["ShardId"] == shard_id]
    return str(shard["HashKeyRange"]["StartingHashKey"])


def test_checkpoints_round_trip(tmp_path: Path) -> None:
    data = DataStore(tmp_path / "cp")
    checkpoints = Checkpoints(data, "indexer")
    assert checkpoints.get("shardId-000000000000") is None
    checkpoints.set("shardId-000000000000", "17")
    checkpoints.set("shardId-000000000001", "4")
    Checkpoints(data, "other").set("shardId-000000000000", "99")
    data.close()
    reopened = Checkpoints(DataStore(tmp_path / "cp"), "indexer")
    assert reopened.get("shardId-000000000000") == "17"
    assert reopened.all() == {"shardId-000000000000": "17", "shardId-000000000001": "4"}
    with pytest.raises(ValueError):
        Checkpoints(data, "a\x1fb")


def test_nothing_is_written_without_an_active_store_or_when_a_put_fails(store: DataStore) -> None:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        _stream(kinesis)
        with pytest.raises(ClientError):
            kinesis.put_record(StreamName="missing", Data=b"x", PartitionKey="k")
        assert store.writes == 0
        durable.activate(None)
        _put(kinesis, 4)
    assert list(store.scan("kinesis")) == []


class _Recorder:
    """An invoker that records each batch's sequence numbers; ``fail`` makes every invocation raise."""

    def __init__(self) -> None:
        self.sequences: list[str] = []
        self.fail = False

    def invoke(self, fn: object, event: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("the function failed")
        self.sequences += [record["kinesis"]["sequenceNumber"] for record in event["Records"]]


def _kinesis_function() -> Any:
    for fn in FUNCTIONS:
        if isinstance(fn.source, StreamSource) and fn.source.kind == "kinesis":
            return fn
    raise AssertionError("no function reads a Kinesis stream")


def test_the_stream_poller_resumes_after_its_checkpoint(store: DataStore) -> None:
    fn = _kinesis_function()
    stop = threading.Event()
    with mock_aws():
        deployment = provision("test")
        name = r.stream(fn.source.source).physical_name("test")
        kinesis = boto3.client("kinesis")
        for n in range(12):
            kinesis.put_record(StreamName=name, Data=f"a{n}".encode(), PartitionKey=f"k{n}")
        recorder = _Recorder()
        poller = StreamPoller(fn, fn.source, deployment.stream_arns[fn.source.source],
                              deployment.queue_urls[fn.source.on_failure], cast(Invoker, recorder), stop,
                              checkpoints=Checkpoints(store, fn.name))
        while poller.poll_once():
            poller.polls += 1
        first = list(recorder.sequences)
        assert len(first) == 12
        done = Checkpoints(store, fn.name).all()
        assert done and all(int(sequence) >= 1 for sequence in done.values())

    with mock_aws():
        deployment = provision("test")
        durable_kinesis.restore(store)
        kinesis = boto3.client("kinesis")
        for n in range(5):
            kinesis.put_record(StreamName=name, Data=f"b{n}".encode(), PartitionKey=f"k{n}")
        recorder = _Recorder()
        poller = StreamPoller(fn, fn.source, deployment.stream_arns[fn.source.source],
                              deployment.queue_urls[fn.source.on_failure], cast(Invoker, recorder), stop,
                              checkpoints=Checkpoints(store, fn.name))
        while poller.poll_once():
            poller.polls += 1
        assert len(recorder.sequences) == 5  # only the new records: the old ones were done before the restart
    stop.set()


def test_the_stream_poller_checkpoints_a_batch_sent_to_the_on_failure_queue(store: DataStore) -> None:
    fn = _kinesis_function()
    stop = threading.Event()
    with mock_aws():
        deployment = provision("test")
        name = r.stream(fn.source.source).physical_name("test")
        kinesis = boto3.client("kinesis")
        shard = kinesis.put_record(StreamName=name, Data=b"poison", PartitionKey="k")["ShardId"]
        recorder = _Recorder()
        recorder.fail = True
        poller = StreamPoller(fn, fn.source, deployment.stream_arns[fn.source.source],
                              deployment.queue_urls[fn.source.on_failure], cast(Invoker, recorder), stop,
                              retry_delay=0.0, checkpoints=Checkpoints(store, fn.name))
        for _ in range(fn.source.max_retry_attempts + 2):
            poller.poll_once()
            poller.polls += 1
        failures = boto3.client("sqs").receive_message(QueueUrl=deployment.queue_urls[fn.source.on_failure])
        assert len(failures.get("Messages", [])) == 1
        assert Checkpoints(store, fn.name).get(shard) is not None
    stop.set()


def test_the_firehose_delivery_resumes_after_the_last_object_written(store: DataStore) -> None:
    definition = r.EVENTS_TO_LAKE
    stop = threading.Event()

    def delivery(deployment: Any) -> FirehoseDelivery:
        return FirehoseDelivery(
            definition, stage="test", stream_arn=deployment.stream_arns[definition.source],
            bucket=deployment.bucket_names[definition.bucket], key_id=deployment.key_ids[r.LAKE_KEY.id],
            stop=stop, buffer_seconds=0.0, checkpoints=Checkpoints(store, f"firehose:{definition.id}"))

    name = r.stream(definition.source).physical_name("test")
    with mock_aws():
        deployment = provision("test")
        kinesis = boto3.client("kinesis")
        for n in range(10):
            kinesis.put_record(StreamName=name, Data=f'{{"n": {n}}}'.encode(), PartitionKey=f"k{n}")
        first = delivery(deployment)
        assert first.drain()
        assert first.records_delivered == 10

    with mock_aws():
        deployment = provision("test")
        durable_kinesis.restore(store)
        kinesis = boto3.client("kinesis")
        for n in range(10, 13):
            kinesis.put_record(StreamName=name, Data=f'{{"n": {n}}}'.encode(), PartitionKey=f"k{n}")
        second = delivery(deployment)
        assert second.drain()
        assert second.records_delivered == 3  # the 10 delivered before the restart are not delivered again
        objects = read_lake(boto3.client("s3"), deployment.bucket_names[definition.bucket])
        assert sorted(record for o in objects for record in o.records) == sorted(
            f'{{"n": {n}}}'.encode() for n in range(10, 13))
    stop.set()
