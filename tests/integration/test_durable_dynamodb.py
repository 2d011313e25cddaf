"""DynamoDB items and table stream records survive a restart of the local runtime: reads (by key, through a global
secondary index, scans) answer exactly as before, stream records come back with their sequence numbers and new
ones continue above them, and writes DynamoDB rejects leave nothing behind."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from marketplace.local import atomic_dynamodb, durable
from marketplace.local.durable import dynamodb as durable_dynamodb
from marketplace.local.durable.store import DataStore, Put, StorageFull
from marketplace.local.provision import provision
from marketplace.platform import resources as r
from tests.integration.durable import active_store

TABLE = "items"
PLAIN = "plain"  # a number partition key and no sort key


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataStore]:
    # installing twice, around the atomic wrapper: idempotent, whichever wrapper came first
    installs = (durable_dynamodb.install, atomic_dynamodb.install, durable_dynamodb.install)
    with active_store(tmp_path, monkeypatch, *installs) as data:
        yield data


def _create_tables() -> None:
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                              for n, t in (("pk", "S"), ("sk", "S"), ("owner", "S"), ("rank", "N"))],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-owner",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.create_table(
        TableName=PLAIN,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _rich(pk: str, sk: str, owner: str, rank: int) -> dict[str, Any]:
    return {
        **_key(pk, sk),
        "owner": {"S": owner},
        "rank": {"N": str(rank)},
        "price": {"N": "1.50"},
        "blob": {"B": b"\x00\x01binary\xff"},
        "tags": {"SS": ["b", "a"]},
        "sizes": {"NS": ["3", "1.0"]},
        "chunks": {"BS": [b"\x01", b"\x02"]},
        "nested": {"M": {"deep": {"M": {"bytes": {"B": b"\xfe"}, "list": {"L": [{"N": "7"}, {"S": "x"}]}}},
                         "flag": {"BOOL": True}, "nothing": {"NULL": True}}},
        "text": {"S": "unicode: é ✓ \x1f"},
    }


def _snapshot() -> dict[str, Any]:
    """Everything a client can read: each item by key, the index, scans of both tables."""
    ddb = boto3.client("dynamodb")
    scan = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    keys = [{"pk": i["pk"], "sk": i["sk"]} for i in scan]
    return {
        "scan": scan,
        "plain": ddb.scan(TableName=PLAIN)["Items"],
        "get": [ddb.get_item(TableName=TABLE, Key=k, ConsistentRead=True).get("Item") for k in keys],
        "index": {owner: ddb.query(TableName=TABLE, IndexName="by-owner",
                                   KeyConditionExpression="#o = :o",
                                   ExpressionAttributeNames={"#o": "owner"},
                                   ExpressionAttributeValues={":o": {"S": owner}})["Items"]
                  for owner in ("ann", "bob", "cy")},
        "index-range": ddb.query(TableName=TABLE, IndexName="by-owner",
                                 KeyConditionExpression="#o = :o AND #r > :r",
                                 ExpressionAttributeNames={"#o": "owner", "#r": "rank"},
                                 ExpressionAttributeValues={":o": {"S": "ann"}, ":r": {"N": "1"}},
                                 ScanIndexForward=False)["Items"],
    }


def _stream_arn() -> str:
    return str(boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"])


def _records(iterator_type: str = "TRIM_HORIZON", sequence: str | None = None) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    arn = _stream_arn()
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    request: dict[str, Any] = {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": iterator_type}
    if sequence is not None:
        request["SequenceNumber"] = sequence
    iterator = streams.get_shard_iterator(**request)["ShardIterator"]
    return list(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])


def _writes() -> None:
    ddb = boto3.client("dynamodb")
    ddb.put_item(TableName=TABLE, Item=_rich("p1", "a", "ann", 1))
    ddb.put_item(TableName=TABLE, Item=_rich("p1", "b", "ann", 2))
    ddb.put_item(TableName=TABLE, Item=_rich("p2", "a", "bob", 5))
    ddb.update_item(TableName=TABLE, Key=_key("p1", "a"), UpdateExpression="SET #r = #r + :one, extra = :e",
                    ExpressionAttributeNames={"#r": "rank"},
                    ExpressionAttributeValues={":one": {"N": "10"}, ":e": {"L": [{"B": b"\x09"}]}})
    ddb.update_item(TableName=TABLE, Key=_key("p3", "new"), UpdateExpression="SET #o = :o, #r = :r",
                    ExpressionAttributeNames={"#o": "owner", "#r": "rank"},
                    ExpressionAttributeValues={":o": {"S": "cy"}, ":r": {"N": "3"}})
    ddb.delete_item(TableName=TABLE, Key=_key("p2", "a"))
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": _rich("t1", "a", "bob", 7),
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": TABLE, "Key": _key("p1", "b"), "UpdateExpression": "REMOVE tags"}},
        {"Delete": {"TableName": TABLE, "Key": _key("p3", "new")}},
        {"ConditionCheck": {"TableName": TABLE, "Key": _key("p1", "a"), "ConditionExpression": "attribute_exists(pk)"}},
        {"Put": {"TableName": PLAIN, "Item": {"id": {"N": "42"}, "v": {"S": "in a transaction"}}}},
    ])
    ddb.batch_write_item(RequestItems={
        TABLE: [{"PutRequest": {"Item": _rich(f"b{i}", "x", "cy", i)}} for i in range(5)]
               + [{"DeleteRequest": {"Key": _key("p1", "b")}}],
        PLAIN: [{"PutRequest": {"Item": {"id": {"N": "1.0"}, "v": {"S": "one"}}}}],
    })
    ddb.delete_item(TableName=PLAIN, Key={"id": {"N": "1"}})  # the same item as 1.0, spelled differently
    ddb.put_item(TableName=PLAIN, Item={"id": {"N": "2.50"}, "v": {"S": "two and a half"}})


def test_items_survive_a_restart_exactly(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        _writes()
        before = _snapshot()
        records_before = _records()

    assert [key for key, _ in store.scan(durable_dynamodb.KIND, PLAIN)] == [
        f'{PLAIN}\x1f{{"id":{{"N":"2.5"}}}}', f'{PLAIN}\x1f{{"id":{{"N":"42"}}}}']
    with mock_aws():  # a new process: moto's backends are empty
        _create_tables()
        durable_dynamodb.restore(store)
        assert _snapshot() == before
        assert before["index"]["ann"] and before["index"]["bob"] and before["index-range"]
        assert _records() == records_before  # restoring made no stream record

    assert len(records_before) == 16  # an update that creates an item makes two (as moto does)


def test_failed_writes_record_nothing(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName=TABLE, Item=_rich("p1", "a", "ann", 1))
        writes = store.writes
        recorded = list(store.scan(durable_dynamodb.KIND)), list(store.scan(durable_dynamodb.STREAM_KIND))
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            ddb.put_item(TableName=TABLE, Item=_rich("p1", "a", "bob", 9),
                         ConditionExpression="attribute_not_exists(pk)")
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            ddb.update_item(TableName=TABLE, Key=_key("p1", "a"), UpdateExpression="SET x = :x",
                            ConditionExpression="#r = :nine", ExpressionAttributeNames={"#r": "rank"},
                            ExpressionAttributeValues={":x": {"S": "x"}, ":nine": {"N": "9"}})
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            ddb.delete_item(TableName=TABLE, Key=_key("p1", "a"), ConditionExpression="attribute_not_exists(pk)")
        with pytest.raises(ClientError, match="TransactionCanceled"):
            ddb.transact_write_items(TransactItems=[  # the first two would succeed, the third cannot
                {"Put": {"TableName": TABLE, "Item": _rich("t1", "a", "bob", 7)}},
                {"Delete": {"TableName": TABLE, "Key": _key("p1", "a")}},
                {"ConditionCheck": {"TableName": TABLE, "Key": _key("zz", "z"),
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ])
        with pytest.raises(ClientError, match="ValidationException"):
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": "no sort key"}})
        ddb.delete_item(TableName=TABLE, Key=_key("absent", "a"))  # changes nothing, so records nothing
        assert store.writes == writes
        assert (list(store.scan(durable_dynamodb.KIND)), list(store.scan(durable_dynamodb.STREAM_KIND))) == recorded
        assert len(_records()) == 1


def test_nothing_is_recorded_without_a_store(store: DataStore) -> None:
    durable.activate(None)
    with mock_aws():
        _create_tables()
        _writes()
    assert store.writes == 0
    assert list(store.scan(durable_dynamodb.KIND)) == []


def test_restoring_is_not_recorded(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        boto3.client("dynamodb").put_item(TableName=TABLE, Item=_rich("p1", "a", "ann", 1))
    writes = store.writes
    with mock_aws(), durable.restoring():
        _create_tables()
        boto3.client("dynamodb").put_item(TableName=TABLE, Item=_rich("p2", "a", "ann", 1))
    assert store.writes == writes


def test_a_write_the_store_cannot_keep_is_taken_back(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName=TABLE, Item=_rich("p1", "a", "ann", 1))
        before, records = _snapshot(), _records()

        def full(changes: object) -> None:
            raise StorageFull(28, "full")

        backend = dynamodb_backends["123456789012"]["us-east-1"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store, "apply", full)
            with pytest.raises(StorageFull):
                backend.put_item(TABLE, _rich("p1", "a", "bob", 3))
            with pytest.raises(StorageFull):
                backend.update_item(TABLE, _key("p1", "a"), "SET #r = :r", {"#r": "rank"}, {":r": {"N": "4"}})
            with pytest.raises(StorageFull):
                backend.update_item(TABLE, _key("p9", "a"), "SET #r = :r", {"#r": "rank"}, {":r": {"N": "4"}})
            with pytest.raises(StorageFull):
                backend.delete_item(TABLE, _key("p1", "a"))
            with pytest.raises(StorageFull):
                backend.transact_write_items([{"Put": {"TableName": TABLE, "Item": _rich("t1", "a", "bob", 7)}},
                                              {"Delete": {"TableName": TABLE, "Key": _key("p1", "a")}}])
        assert _snapshot() == before
        assert _records() == records


def _sequences(records: list[dict[str, Any]]) -> list[int]:
    return [int(record["dynamodb"]["SequenceNumber"]) for record in records]


def test_stream_records_keep_their_sequence_numbers(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        ddb = boto3.client("dynamodb")
        for i in range(6):
            ddb.put_item(TableName=TABLE, Item=_rich(f"p{i}", "a", "ann", i))
        records = _records()
        checkpoint = records[2]["dynamodb"]["SequenceNumber"]

    assert len(list(store.scan(durable_dynamodb.STREAM_KIND))) == 6
    with mock_aws():
        _create_tables()
        durable_dynamodb.restore(store)
        assert _records() == records  # the same records: ids, images, times and sequence numbers
        assert _records("AFTER_SEQUENCE_NUMBER", checkpoint) == records[3:]
        assert _records("LATEST") == []
        boto3.client("dynamodb").put_item(TableName=TABLE, Item=_rich("p9", "a", "cy", 9))
        after = _records("AFTER_SEQUENCE_NUMBER", checkpoint)
        assert after[:3] == records[3:]
        assert _sequences(after)[3] == _sequences(records)[-1] + 1
        assert after[3]["dynamodb"]["NewImage"]["pk"] == {"S": "p9"}

    assert len(list(store.scan(durable_dynamodb.STREAM_KIND))) == 7


def test_trimmed_stream_continues_above_what_was_consumed(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        ddb = boto3.client("dynamodb")
        for i in range(5):
            ddb.put_item(TableName=TABLE, Item=_rich(f"p{i}", "a", "ann", i))
        records = _records()
    sequences = _sequences(records)

    assert durable_dynamodb.trim_stream(store, TABLE, sequences[1]) == 2
    with mock_aws():
        _create_tables()
        durable_dynamodb.restore(store)
        assert _records() == records[2:]  # the trim horizon is the oldest record kept
        assert _records("AFTER_SEQUENCE_NUMBER", str(sequences[1])) == records[2:]
        assert _records("AFTER_SEQUENCE_NUMBER", str(sequences[0])) == records[2:]  # trimmed: from the horizon
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName=TABLE, Item=_rich("q", "a", "ann", 1))
        assert _sequences(_records())[-1] == sequences[-1] + 1

    assert durable_dynamodb.trim_stream(store, TABLE, sequences[-1] + 1) == 4  # everything
    assert list(store.scan(durable_dynamodb.STREAM_KIND)) == []
    with mock_aws():
        _create_tables()
        durable_dynamodb.restore(store)
        assert _records() == []
        boto3.client("dynamodb").put_item(TableName=TABLE, Item=_rich("r", "a", "ann", 1))
        assert _sequences(_records()) == [sequences[-1] + 2]
        assert _records("AFTER_SEQUENCE_NUMBER", str(sequences[-1] + 1))[0]["dynamodb"]["Keys"]["pk"] == {"S": "r"}


def test_records_older_than_a_day_are_dropped_at_restore(store: DataStore) -> None:
    with mock_aws():
        _create_tables()
        ddb = boto3.client("dynamodb")
        for i in range(4):
            ddb.put_item(TableName=TABLE, Item=_rich(f"p{i}", "a", "ann", i))
        records = _records()
    old = (datetime.now(UTC) - timedelta(hours=25)).replace(tzinfo=None).isoformat()
    stored = list(store.scan(durable_dynamodb.STREAM_KIND))
    for key, value in stored[:2]:
        record = json.loads(value)
        record["dynamodb"]["ApproximateCreationDateTime"] = {"$datetime": old}
        store.put(durable_dynamodb.STREAM_KIND, key, json.dumps(record).encode())

    with mock_aws():
        _create_tables()
        durable_dynamodb.restore(store)
        assert _records() == records[2:]
    assert [key for key, _ in store.scan(durable_dynamodb.STREAM_KIND)] == [key for key, _ in stored[2:]]


def test_the_extensions_table_and_its_stream_survive_a_restart(store: DataStore) -> None:
    name = r.EXTENSIONS_TABLE.physical_name("test")
    item = {"pk": {"S": "EXT#pub.ext"}, "sk": {"S": "META"}, "gsi1pk": {"S": "PUB#pub"}, "gsi1sk": {"S": "ext"},
            "downloads": {"N": "12"}}
    with mock_aws():
        deployment = provision("test")
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName=name, Item=item)
        streams = boto3.client("dynamodbstreams")
        arn = deployment.table_stream_arns["extensions"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    with mock_aws():
        again = provision("test")
        durable_dynamodb.restore(store)
        ddb = boto3.client("dynamodb")
        assert ddb.get_item(TableName=name, Key={"pk": item["pk"], "sk": item["sk"]})["Item"] == item
        assert ddb.query(TableName=name, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                         ExpressionAttributeValues={":p": {"S": "PUB#pub"}})["Items"] == [item]
        streams = boto3.client("dynamodbstreams")
        arn = again.table_stream_arns["extensions"]
        assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"] == shard
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        assert streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"] == records


def test_concurrent_writes_are_recorded_in_moto_order(store: DataStore) -> None:
    with mock_aws():
        _create_tables()

        def add(worker: int) -> None:
            ddb = boto3.session.Session().client("dynamodb")
            for _ in range(25):
                ddb.update_item(TableName=TABLE, Key=_key("counter", "c"), UpdateExpression="ADD hits :one",
                                ExpressionAttributeValues={":one": {"N": "1"}})
                ddb.put_item(TableName=TABLE, Item={**_key("worker", str(worker)), "n": {"N": str(worker)}})

        threads = [threading.Thread(target=add, args=(worker,)) for worker in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        before, records = _snapshot(), _records()

    with mock_aws():
        _create_tables()
        durable_dynamodb.restore(store)
        assert _snapshot() == before
        assert _records() == records
    hits = next(i for i in before["scan"] if i["pk"] == {"S": "counter"})["hits"]
    assert hits == {"N": "150"}
    assert len(records) == 301  # the update that creates the counter makes two
    assert _sequences(records) == list(range(_sequences(records)[0], _sequences(records)[0] + 301))


def test_restoring_a_hundred_thousand_items(store: DataStore) -> None:
    count = 100_000
    with mock_aws():
        _create_tables()
        table = dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]
        changes = []
        for i in range(count):
            attributes = {"pk": {"S": f"p{i // 10}"}, "sk": {"S": f"s{i % 10}"}, "owner": {"S": f"o{i % 100}"},
                          "rank": {"N": str(i)}, "title": {"S": "an extension " * 4},
                          "meta": {"M": {"version": {"S": "1.2.3"}, "size": {"N": "12345"}}}}
            item = durable_dynamodb.decode_item(table, json.dumps(attributes).encode())
            changes.append(Put(durable_dynamodb.KIND, durable_dynamodb.item_key(table, item.hash_key, item.range_key),
                               durable_dynamodb.encode_item(item)))
        store.apply(changes)

    with mock_aws():
        _create_tables()
        started = time.perf_counter()
        durable_dynamodb.restore(store)
        elapsed = time.perf_counter() - started
        print(f"\nrestored {count} items in {elapsed:.2f}s")
        ddb = boto3.client("dynamodb")
        assert ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == count
        got = ddb.get_item(TableName=TABLE, Key=_key("p4321", "s7"))["Item"]
        assert got["rank"] == {"N": "43217"} and got["meta"]["M"]["size"] == {"N": "12345"}
        owned = ddb.query(TableName=TABLE, IndexName="by-owner", KeyConditionExpression="#o = :o AND #r < :r",
                          ExpressionAttributeNames={"#o": "owner", "#r": "rank"},
                          ExpressionAttributeValues={":o": {"S": "o17"}, ":r": {"N": "1000"}})["Items"]
        assert [Decimal(i["rank"]["N"]) for i in owned] == [Decimal(n) for n in range(17, 1000, 100)]
