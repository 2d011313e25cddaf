"""The event-driven handlers against moto: ingest (SQS), stats (Kinesis), search indexer (DynamoDB Streams)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.ingest import handler as ingest_handler
from functions.search_indexer import handler as indexer_handler
from functions.stats import handler as stats_handler
from marketplace.platform.batch import BatchFailed
from marketplace.search.store import document_key
from marketplace.stats import store as stats_store
from tests.integration.events import context, kinesis_event, sqs_event


def _notification(bucket: str, key: str) -> dict:
    return {"Records": [{"eventName": "ObjectCreated:Post",
                         "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 3}}}]}


def _exists(bucket: str, key: str) -> bool:
    try:
        boto3.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def test_ingest_removes_objects_without_an_upload_record(deployment):
    bucket = deployment.env["PACKAGES_BUCKET"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="uploads/unknown-1", Body=b"PK\x03")
    s3.put_object(Bucket=bucket, Key="uploads/../x", Body=b"PK\x03")
    result = ingest_handler.lambda_handler(
        sqs_event(_notification(bucket, "uploads/unknown-1"), _notification(bucket, "uploads/../x")),
        context("ingest"))
    assert result == {"batchItemFailures": []}
    assert not _exists(bucket, "uploads/unknown-1") and not _exists(bucket, "uploads/../x")


def test_ingest_reports_malformed_messages_and_keeps_going(deployment):
    bucket = deployment.env["PACKAGES_BUCKET"]
    boto3.client("s3").put_object(Bucket=bucket, Key="uploads/a-1", Body=b"x")
    event = sqs_event({"not": "an s3 event"}, {"Service": "Amazon S3", "Event": "s3:TestEvent"},
                      _notification(bucket, "uploads/a-1"))
    result = ingest_handler.lambda_handler(event, context("ingest"))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert not _exists(bucket, "uploads/a-1")


def _stat(kind: str, extension: str = "pub.ext") -> bytes:
    return json.dumps({"type": kind, "extension": extension, "version": "1.0.0",
                       "at": "2026-11-24T10:00:00Z"}).encode()


def test_stats_sums_a_batch_into_totals(deployment):
    result = stats_handler.lambda_handler(
        kinesis_event(_stat("install"), _stat("install"), _stat("download"), _stat("uninstall", "a.b"),
                      json.dumps({"type": "telemetry"}).encode()),
        context("stats"))
    assert result == {"batchItemFailures": []}
    assert stats_store.get_totals("pub.ext") == {"download": 1, "install": 2, "update": 0, "uninstall": 0}
    assert stats_store.get_totals("a.b")["uninstall"] == 1


def test_stats_checkpoints_at_the_first_unreadable_record(deployment):
    event = kinesis_event(_stat("install"), b"not json", _stat("install"))
    result = stats_handler.lambda_handler(event, context("stats"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "1001"}]}
    # only the record before the failure counted: Lambda retries from 1001, so nothing counts twice
    assert stats_store.get_totals("pub.ext")["install"] == 1


def test_search_indexer_follows_the_extensions_table(deployment):
    table = deployment.env["EXTENSIONS_TABLE"]
    bucket = deployment.env["PACKAGES_BUCKET"]
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "EXT#pub.ext"}, "sk": {"S": "EXTENSION"},
                                             "displayName": {"S": "Hello"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "EXT#pub.ext"}, "sk": {"S": "VERSION#1"}})
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "EXT#pub.ext"}, "sk": {"S": "EXTENSION"}})
    streams = boto3.client("dynamodbstreams")
    arn = deployment.table_stream_arns["extensions"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "REMOVE"]
    from marketplace.local.pollers import _dynamodb_record

    first = {"Records": [_dynamodb_record(r, shard, arn) for r in records[:2]]}
    assert indexer_handler.lambda_handler(first, context("search_indexer")) == {"batchItemFailures": []}
    document = boto3.client("s3").get_object(Bucket=bucket, Key=document_key("pub.ext"))["Body"].read()
    assert json.loads(document) == {"displayName": "Hello", "id": "pub.ext"}
    last = {"Records": [_dynamodb_record(records[2], shard, arn)]}
    indexer_handler.lambda_handler(last, context("search_indexer"))
    assert not _exists(bucket, document_key("pub.ext"))


def test_search_indexer_reports_a_failed_write(deployment, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PACKAGES_BUCKET", "no-such-bucket")
    record = {"eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
              "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
              "dynamodb": {"Keys": {"pk": {"S": "EXT#a.b"}, "sk": {"S": "EXTENSION"}},
                           "NewImage": {"pk": {"S": "EXT#a.b"}, "sk": {"S": "EXTENSION"}},
                           "SequenceNumber": "42", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    second: dict = {**record, "eventID": "2"}
    second["dynamodb"] = {**record["dynamodb"], "SequenceNumber": "43",  # type: ignore[dict-item]
                          "Keys": {"pk": {"S": "EXT#a.b"}, "sk": {"S": "VERSION#1"}}}
    result = indexer_handler.lambda_handler({"Records": [record, second]}, context("search_indexer"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "42"}]}
    # a batch in which every record fails is a function error: Lambda retries (and bisects) all of it
    with pytest.raises(BatchFailed):
        indexer_handler.lambda_handler({"Records": [record]}, context("search_indexer"))
