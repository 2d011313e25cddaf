"""Stream records every consumer is done with (or past their stream's retention) are dropped while serving, from the
data directory and from moto's memory; consumers keep reading exactly the records after their checkpoints, before
and after a restart."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodbstreams.models import dynamodbstreams_backends
from moto.moto_api._internal.models import moto_api_backend

from marketplace.local import atomic_dynamodb, durable
from marketplace.local.durable import dynamodb as durable_dynamodb
from marketplace.local.durable import kinesis as durable_kinesis
from marketplace.local.durable import retention
from marketplace.local.durable.kinesis import Checkpoints
from marketplace.local.durable.retention import Consumer, MemoryCheckpoints, RetainedStream, Retention
from marketplace.local.durable.store import DataStore
from marketplace.local.firehose import read_lake
from marketplace.local.runtime import LocalMarketplace
from marketplace.platform import resources as r
from marketplace.platform.functions import SEARCH_INDEXER, STATS
from tests.e2e.conftest import wait_until
from tests.integration.durable import active_store

STREAM = "events"
TABLE = "items"
SEP = durable_kinesis.SEPARATOR


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataStore]:
    installs = (durable_kinesis.install, durable_dynamodb.install, atomic_dynamodb.install, retention.install)
    with active_store(tmp_path, monkeypatch, *installs) as data:
        yield data


# --------------------------------------------------------------------------------------------- helpers


def _stream() -> Any:
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    return kinesis


def _put(kinesis: Any, count: int, start: int = 0) -> dict[str, list[str]]:
    """Sequence numbers of the records put, per shard."""
    entries = [{"Data": f"r{n}".encode(), "PartitionKey": f"k{n}"} for n in range(start, start + count)]
    by_shard: dict[str, list[str]] = {}
    for answer in kinesis.put_records(StreamName=STREAM, Records=entries)["Records"]:
        by_shard.setdefault(answer["ShardId"], []).append(answer["SequenceNumber"])
    return by_shard


def _read(kinesis: Any, shard_id: str, after: str | None = None) -> list[str]:
    position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after} if after
                else {"ShardIteratorType": "TRIM_HORIZON"})
    iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard_id, **position)["ShardIterator"]
    return [record["SequenceNumber"] for record in kinesis.get_records(ShardIterator=iterator)["Records"]]


def _stored(store: DataStore, kind: str, prefix: str) -> list[str]:
    return [str(int(key.rsplit(SEP, 1)[1])) for key, _ in store.scan(kind, prefix)]


def _in_memory(stream_name: str, shard_id: str) -> list[str]:
    return [str(sequence) for sequence in retention._kinesis_stream(stream_name).shards[shard_id].records]


def _table() -> str:
    boto3.client("dynamodb").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    return str(boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"])


def _write(*names: str) -> None:
    for name in names:
        boto3.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": name}})


def _stream_records(arn: str, after: str | None = None) -> list[tuple[str, str]]:
    """``(sequence number, pk)`` of the stream's records from the trim horizon, or after ``after``."""
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                else {"ShardIteratorType": "TRIM_HORIZON"})
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **position)["ShardIterator"]
    return [(record["dynamodb"]["SequenceNumber"], record["dynamodb"]["Keys"]["pk"]["S"])
            for record in streams.get_records(ShardIterator=iterator)["Records"]]


def _shard_id(arn: str) -> str:
    description = boto3.client("dynamodbstreams").describe_stream(StreamArn=arn)["StreamDescription"]
    return str(description["Shards"][0]["ShardId"])


# --------------------------------------------------------------------------------------------- Kinesis


def test_kinesis_records_every_consumer_is_done_with_are_dropped(store: DataStore) -> None:
    stats, lake = Checkpoints(store, "stats"), Checkpoints(store, "firehose:lake")
    stream = RetainedStream("kinesis", STREAM, (Consumer("stats", stats), Consumer("firehose:lake", lake)))
    with mock_aws():
        kinesis = _stream()
        put = _put(kinesis, 60)
        busy, half, idle, *_ = sorted(put, key=lambda shard: -len(put[shard]))
        assert len(put[busy]) >= 8 and len(put[half]) >= 2
        # busy: both consumers are part-way, the lake behind; half: the lake has not read it; idle: both done
        stats.set(busy, put[busy][5])
        lake.set(busy, put[busy][2])
        stats.set(half, put[half][-1])
        stats.set(idle, put[idle][-1])
        lake.set(idle, put[idle][-1])
        Checkpoints(store, "gone").set(idle, put[idle][0])  # a consumer not running this time holds it back

        report = Retention([stream], store, threading.Event()).run_once()

        assert _stored(store, "kinesis", f"{STREAM}{SEP}{busy}{SEP}") == put[busy][3:]
        assert _in_memory(STREAM, busy) == put[busy][3:]
        assert _stored(store, "kinesis", f"{STREAM}{SEP}{half}{SEP}") == put[half]  # blocked: nothing dropped
        assert _in_memory(STREAM, half) == put[half]
        assert _stored(store, "kinesis", f"{STREAM}{SEP}{idle}{SEP}") == put[idle][1:]
        assert report.stored == 3 + 1 and report.memory == 3 + 1
        # readers: from their checkpoint exactly the later records, from the trim horizon the oldest kept
        assert _read(kinesis, busy, after=put[busy][5]) == put[busy][6:]
        assert _read(kinesis, busy, after=put[busy][2]) == put[busy][3:]
        assert _read(kinesis, busy) == put[busy][3:]
        assert _read(kinesis, busy, after=put[busy][0]) == put[busy][3:]  # before the oldest kept

        Checkpoints(store, "gone").set(idle, put[idle][-1])
        Retention([stream], store, threading.Event()).run_once()
        assert _stored(store, "kinesis", f"{STREAM}{SEP}{idle}{SEP}") == []
        assert _in_memory(STREAM, idle) == put[idle][-1:]  # the newest stays: moto numbers the next after it
        assert _read(kinesis, idle, after=put[idle][-1]) == []

        later = _put(kinesis, 60, start=100)
        for shard, sequences in later.items():
            assert int(sequences[0]) > int(put.get(shard, ["0"])[-1])
        assert _read(kinesis, idle, after=put[idle][-1]) == later.get(idle, [])

    with mock_aws():  # a restart: the consumers resume exactly after their checkpoints
        kinesis = _stream()
        durable_kinesis.restore(store)
        assert _read(kinesis, busy, after=stats.get(busy)) == put[busy][6:] + later.get(busy, [])
        assert _read(kinesis, busy, after=lake.get(busy)) == put[busy][3:] + later.get(busy, [])
        assert _read(kinesis, idle, after=stats.get(idle)) == later[idle]
        assert _read(kinesis, half) == put[half] + later.get(half, [])
        for shard, sequences in _put(kinesis, 20, start=200).items():
            assert int(sequences[0]) > int((later.get(shard) or put.get(shard) or ["0"])[-1])


def test_kinesis_records_past_retention_go_without_checkpoints(store: DataStore) -> None:
    never = MemoryCheckpoints()  # a consumer that never checkpoints holds nothing back past retention
    stream = RetainedStream("kinesis", STREAM, (Consumer("slow", never),))
    with mock_aws():
        kinesis = _stream()
        put = _put(kinesis, 20)
        trimmer = Retention([stream], store, threading.Event())
        assert not trimmer.run_once()  # within retention: nothing
        report = trimmer.run_once(now=time.time() + 25 * 3600)
        assert report.stored == 20 and report.memory == 20 - len(put)
        assert list(store.scan("kinesis")) == []
        assert all(_in_memory(STREAM, shard) == sequences[-1:] for shard, sequences in put.items())
    with mock_aws():
        kinesis = _stream()
        durable_kinesis.restore(store)
        for shard, sequences in _put(kinesis, 20, start=100).items():
            assert int(sequences[0]) > int(put.get(shard, ["0"])[-1])


def test_a_stream_nobody_reads_is_trimmed_by_age_only(store: DataStore) -> None:
    with mock_aws():
        kinesis = _stream()
        put = _put(kinesis, 10)
        Checkpoints(store, "other").set(next(iter(put)), "99999")  # another stream's consumer: ignored
        assert not Retention([RetainedStream("kinesis", STREAM)], store, threading.Event()).run_once()
        assert len(list(store.scan("kinesis"))) == 10


# --------------------------------------------------------------------------------------------- DynamoDB Streams


def test_dynamodb_stream_records_the_indexer_is_done_with_are_dropped(store: DataStore) -> None:
    indexer = Checkpoints(store, "search_indexer")
    stream = RetainedStream("dynamodb", TABLE, (Consumer("search_indexer", indexer),))
    with mock_aws():
        arn = _table()
        _write(*(f"p{n}" for n in range(6)))
        records = _stream_records(arn)
        sequences = [sequence for sequence, _ in records]
        trimmer = Retention([stream], store, threading.Event())
        assert not trimmer.run_once()  # no checkpoint yet: the indexer will read from the oldest record

        indexer.set(_shard_id(arn), sequences[2])
        report = trimmer.run_once()
        assert report.stored == 3 and report.memory == 3
        assert _stored(store, "dynamodb-stream", TABLE + SEP) == sequences[3:]
        shard = retention._table(TABLE).stream_shard
        assert len(shard.items) == 3 and shard.starting_sequence_number == int(sequences[3])
        assert _stream_records(arn) == records[3:]
        assert _stream_records(arn, after=sequences[2]) == records[3:]
        assert _stream_records(arn, after=sequences[0]) == records[3:]  # before the oldest kept
        assert _stream_records(arn, after=sequences[4]) == records[5:]

        indexer.set(_shard_id(arn), sequences[-1])
        trimmer.run_once()
        assert _stream_records(arn) == [] and not shard.items
        assert _stored(store, "dynamodb-stream", TABLE + SEP) == []
        _write("q")
        assert _stream_records(arn, after=sequences[-1]) == [(str(int(sequences[-1]) + 1), "q")]

    with mock_aws():
        arn = _table()
        durable_dynamodb.restore(store)
        assert _stream_records(arn, after=indexer.get(_shard_id(arn))) == [(str(int(sequences[-1]) + 1), "q")]
        _write("s")
        assert [pk for _, pk in _stream_records(arn)] == ["q", "s"]


def test_dynamodb_stream_records_older_than_a_day_are_dropped(store: DataStore) -> None:
    stream = RetainedStream("dynamodb", TABLE, (Consumer("search_indexer", MemoryCheckpoints()),))
    with mock_aws():
        arn = _table()
        _write("a", "b", "c")
        report = Retention([stream], store, threading.Event()).run_once(now=time.time() + 25 * 3600)
        assert report.stored == 3 and report.memory == 3
        assert _stream_records(arn) == []
        _write("d")
        assert [pk for _, pk in _stream_records(arn)] == ["d"]


# --------------------------------------------------------------------------------------------- memory only


def test_without_a_data_directory_only_moto_memory_is_trimmed(store: DataStore) -> None:
    durable.activate(None)
    reader, indexer = MemoryCheckpoints(), MemoryCheckpoints()
    streams = [RetainedStream("kinesis", STREAM, (Consumer("stats", reader),)),
               RetainedStream("dynamodb", TABLE, (Consumer("search_indexer", indexer),))]
    with mock_aws():
        kinesis = _stream()
        put = _put(kinesis, 30)
        for shard, sequences in put.items():
            reader.set(shard, sequences[-1])
        arn = _table()
        _write("a", "b", "c")
        indexer.set(_shard_id(arn), _stream_records(arn)[1][0])

        report = Retention(streams, None, threading.Event()).run_once()
        assert report.stored == 0 and report.memory == (30 - len(put)) + 2
        assert all(_in_memory(STREAM, shard) == sequences[-1:] for shard, sequences in put.items())
        assert [pk for _, pk in _stream_records(arn)] == ["c"]
    assert store.writes == 0


def test_used_dynamodb_stream_iterators_go_once_aws_would_expire_them(store: DataStore) -> None:
    with mock_aws():
        arn = _table()
        streams = boto3.client("dynamodbstreams")
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=_shard_id(arn),
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for n in range(20):
            _write(f"p{n}")
            iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
        backend = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        assert len(backend.shard_iterators) == 21
        trimmer = Retention([], store, threading.Event())
        assert trimmer.run_once().iterators == 0  # within their 15 minutes
        assert trimmer.run_once(now=time.time() + retention.ITERATOR_SECONDS + 1).iterators == 20
        assert list(backend.shard_iterators) == [iterator]  # the one not used yet
        _write("last")
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=iterator)["Records"]] \
            == ["last"]


def test_moto_cloudwatch_data_points_of_kinesis_puts_go_after_an_hour(store: DataStore) -> None:
    with mock_aws():
        kinesis = _stream()
        for n in range(5):
            kinesis.put_record(StreamName=STREAM, Data=b"x", PartitionKey=f"k{n}")
        stream = retention._kinesis_stream(STREAM)
        data = cloudwatch_backends[stream.account_id][stream.region].metric_data
        assert len(data) == 10
        trimmer = Retention([RetainedStream("kinesis", STREAM)], store, threading.Event())
        assert trimmer.run_once().metrics == 0
        assert trimmer.run_once(now=time.time() + retention.METRICS_SECONDS + 1).metrics == 10
        assert data == []


def test_trimming_while_records_are_put_and_read_loses_and_repeats_nothing(store: DataStore) -> None:
    position = MemoryCheckpoints()
    stream = RetainedStream("kinesis", STREAM, (Consumer("reader", position),))
    done = threading.Event()
    errors: list[BaseException] = []
    with mock_aws():
        kinesis = _stream()
        shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=STREAM)["Shards"]]
        put: dict[str, list[str]] = {}
        seen: dict[str, list[str]] = {shard: [] for shard in shards}

        def writer() -> None:
            try:
                for n in range(0, 400, 20):
                    for shard, sequences in _put(kinesis, 20, start=n).items():
                        put.setdefault(shard, []).extend(sequences)
            except BaseException as error:
                errors.append(error)
            finally:
                done.set()

        def trimmer() -> None:
            loop = Retention([stream], store, threading.Event())
            try:
                while not done.is_set():
                    loop.run_once()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=writer), threading.Thread(target=trimmer)]
        for thread in threads:
            thread.start()
        iterators = {shard: kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard,
                                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                     for shard in shards}
        while True:  # a poller: read each shard, checkpoint what it read
            finished = done.is_set()
            for shard in shards:
                page = kinesis.get_records(ShardIterator=iterators[shard])
                iterators[shard] = page["NextShardIterator"]
                seen[shard] += [record["SequenceNumber"] for record in page["Records"]]
                if seen[shard]:
                    position.set(shard, seen[shard][-1])
            if finished:
                break
        for thread in threads:
            thread.join()
    assert not errors
    assert seen == {shard: put.get(shard, []) for shard in shards}
    assert sum(len(v) for v in seen.values()) == 400


# --------------------------------------------------------------------------------------------- the runtime


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinesis: Counter[str] = Counter()
        self.dynamodb: Counter[str] = Counter()

    def stats(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        import base64

        with self.lock:
            self.kinesis.update(base64.b64decode(record["kinesis"]["data"]).decode() for record in event["Records"])
        return {"batchItemFailures": []}

    def indexer(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        with self.lock:
            self.dynamodb.update(record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"])
        return {"batchItemFailures": []}


STAGE = "retention"


def _runtime(recorder: _Recorder, data_dir: Path | None) -> LocalMarketplace:
    moto_api_backend.reset()  # one moto per process: the previous runtime's resources go, as in a new process
    return LocalMarketplace(port=0, stage=STAGE, functions=(STATS, SEARCH_INDEXER), data_dir=data_dir,
                            handler_overrides={"stats": recorder.stats, "search_indexer": recorder.indexer},
                            stream_retry_delay=0.1, lake_buffer_seconds=0.1)


def _send(runtime: LocalMarketplace, events: list[str], items: list[str]) -> None:
    session = boto3.session.Session()
    kinesis = session.client("kinesis", endpoint_url=runtime.moto_endpoint)
    if events:
        kinesis.put_records(StreamName=r.EVENTS_STREAM.physical_name(STAGE),
                            Records=[{"Data": e.encode(), "PartitionKey": e} for e in events])
    dynamodb = session.client("dynamodb", endpoint_url=runtime.moto_endpoint)
    for pk in items:
        dynamodb.put_item(TableName=r.EXTENSIONS_TABLE.physical_name(STAGE),
                          Item={"pk": {"S": pk}, "sk": {"S": "EXTENSION"}})


def _delivered(runtime: LocalMarketplace) -> int:
    return sum(delivery.records_delivered for delivery in runtime.deliveries)


def _lake(runtime: LocalMarketplace) -> Counter[str]:
    assert runtime.deployment is not None
    s3 = boto3.session.Session().client("s3", endpoint_url=runtime.moto_endpoint)
    bucket = runtime.deployment.bucket_names[r.EVENTS_TO_LAKE.bucket]
    return Counter(record.decode() for o in read_lake(s3, bucket) for record in o.records)


def _caught_up(runtime: LocalMarketplace) -> bool:
    """Every consumer has checkpointed the newest record of every shard."""
    assert runtime.retention is not None
    for stream in runtime.retention.streams:
        if stream.kind == "kinesis":
            newest = {shard_id: str(next(reversed(shard.records)))
                      for shard_id, shard in retention._kinesis_stream(stream.name).shards.items() if shard.records}
        else:
            shard = retention._table(stream.name).stream_shard
            newest = {shard.id: str(shard.starting_sequence_number + len(shard.items) - 1)} if shard.items else {}
        for shard_id, sequence in newest.items():
            if any(consumer.checkpoints.get(shard_id) != sequence for consumer in stream.consumers):
                return False
    return True


def _check_trimmed(runtime: LocalMarketplace) -> None:
    """Everything was consumed: nothing is left on disk, moto keeps only each Kinesis shard's newest record."""
    assert runtime.retention is not None
    store = runtime.data.store if runtime.data is not None else None
    report = runtime.retention.run_once()
    assert report.memory > 0 and (store is None or report.stored > 0)
    for stream in runtime.retention.streams:
        if stream.kind == "kinesis":
            assert {c.name for c in stream.consumers} == {"stats", "firehose:" + r.EVENTS_TO_LAKE.id}
            for shard in retention._kinesis_stream(stream.name).shards.values():
                assert len(shard.records) <= 1
        else:
            assert [c.name for c in stream.consumers] == ["search_indexer"]
            assert retention._table(stream.name).stream_shard.items == []
    if store is not None:
        assert list(store.scan("kinesis")) == [] and list(store.scan("dynamodb-stream")) == []


@pytest.mark.slow
def test_the_runtime_trims_behind_its_consumers_and_they_resume_after_a_restart(tmp_path: Path) -> None:
    recorder = _Recorder()
    first = [f"e{n}" for n in range(40)]
    with _runtime(recorder, tmp_path / "data") as runtime:
        assert runtime.retention is not None and runtime.retention.is_alive()
        _send(runtime, first, ["x0", "x1", "x2"])
        wait_until(lambda: len(recorder.kinesis) == 40 and len(recorder.dynamodb) == 3 and _caught_up(runtime))
        _check_trimmed(runtime)
        _send(runtime, ["f0", "f1"], ["x3"])  # new records still reach every consumer
        wait_until(lambda: recorder.kinesis["f1"] and recorder.dynamodb["x3"] and _caught_up(runtime))
        _check_trimmed(runtime)
        _send(runtime, ["f2"], ["x4"])  # left for after the restart: the delivery writes it at stop
        wait_until(lambda: recorder.kinesis["f2"] and recorder.dynamodb["x4"])
    assert runtime.retention is None

    with _runtime(recorder, tmp_path / "data") as runtime:
        _send(runtime, ["g0", "g1", "g2"], ["x5"])
        wait_until(lambda: recorder.kinesis["g2"] and recorder.dynamodb["x5"] and _caught_up(runtime))
        _check_trimmed(runtime)
        assert set(recorder.kinesis.values()) == {1} and len(recorder.kinesis) == 46  # each once, none again
        assert set(recorder.dynamodb.values()) == {1} and len(recorder.dynamodb) == 6
        lake = _lake(runtime)
        assert set(lake.values()) == {1} and len(lake) == 46
    moto_api_backend.reset()


@pytest.mark.slow
def test_the_runtime_without_a_data_directory_trims_moto_memory() -> None:
    recorder = _Recorder()
    with _runtime(recorder, None) as runtime:
        assert runtime.retention is not None and runtime.retention.store is None
        _send(runtime, [f"e{n}" for n in range(30)], ["x0", "x1"])
        wait_until(lambda: len(recorder.kinesis) == 30 and len(recorder.dynamodb) == 2 and _caught_up(runtime))
        _check_trimmed(runtime)
        _send(runtime, ["f0"], ["x2"])
        wait_until(lambda: recorder.kinesis["f0"] and recorder.dynamodb["x2"] and _delivered(runtime) == 31)
        assert set(recorder.kinesis.values()) == {1} and set(recorder.dynamodb.values()) == {1}
        assert sum(_lake(runtime).values()) == 31
    moto_api_backend.reset()
