"""The event-driven handlers against moto: ingest (SQS) and the search indexer (DynamoDB Streams); the stats
function (Kinesis) has its own tests (test_stats_handler.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.ingest import handler as ingest_handler
from functions.search_indexer import handler as indexer_handler
from marketplace.catalog import store as catalog
from marketplace.catalog.store import NewVersion
from marketplace.platform.batch import BatchFailed
from marketplace.search import snapshot
from marketplace.search.encoding import SEGMENTS, segment_of
from tests.integration.events import context, sqs_event


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


# The stats function's tests are in test_stats_handler.py.


def _stream_records(deployment) -> list[dict]:
    """Every record of the extensions table's stream so far, as Lambda delivers them."""
    from marketplace.local.pollers import _dynamodb_record

    streams = boto3.client("dynamodbstreams")
    arn = deployment.table_stream_arns["extensions"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [_dynamodb_record(r, shard, arn) for r in records]


def _indexed() -> dict[str, dict]:
    """The snapshot's extensions: id -> record."""
    found = {}
    for segment in range(SEGMENTS):
        read = snapshot.read_segment(segment)
        if read is not None:
            found.update({d.extension_id: json.loads(d.record) for d in read[0].documents})
    return found


def _new_version(name: str, version: str) -> NewVersion:
    return NewVersion(publisher="Pub", name=name, version=version, target_platform="universal", pre_release=False,
                      engine="^1.80.0", sha256="0" * 64, size=1, asset_base=f"assets/pub/{name}/{version}/universal/u",
                      assets={}, upload_id="u", published_by="alice", published_at=datetime.now(UTC),
                      display_name=f"{name.title()} {version}", description="Says hello")


def test_search_indexer_follows_the_extensions_table(deployment):
    catalog.record_version(_new_version("hello", "1.0.0"))
    catalog.record_version(_new_version("hello", "1.1.0"))
    catalog.record_version(_new_version("other", "1.0.0"))
    records = _stream_records(deployment)
    # version items and UUID pointers are in the stream too; only the extensions' own items count
    assert {r["dynamodb"]["Keys"]["sk"]["S"].split("#")[0] for r in records} == {"EXTENSION", "VERSION"}
    assert any(r["dynamodb"]["Keys"]["pk"]["S"].startswith("UUID#") for r in records)
    assert indexer_handler.lambda_handler({"Records": records}, context("search_indexer")) == {
        "batchItemFailures": []}
    indexed = _indexed()
    assert sorted(indexed) == ["pub.hello", "pub.other"]
    assert indexed["pub.hello"]["dn"] == "Hello 1.1.0" and [v["v"] for v in indexed["pub.hello"]["v"]] == ["1.1.0"]
    generations = {n: i.generation for n, i in snapshot.read_manifest().segments.items()}  # type: ignore[union-attr]
    # one rewrite per touched segment, however many records the batch held for it
    assert generations == {segment_of("pub.hello"): 1, segment_of("pub.other"): 1} or (
        segment_of("pub.hello") == segment_of("pub.other") and sum(generations.values()) == 1)

    catalog.unpublish("pub.hello", None, None, datetime.now(UTC))
    later = _stream_records(deployment)[len(records):]
    assert indexer_handler.lambda_handler({"Records": later}, context("search_indexer")) == {"batchItemFailures": []}
    assert sorted(_indexed()) == ["pub.other"]


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
    # the extension's segment cannot be written; the version item never needed it
    assert result == {"batchItemFailures": [{"itemIdentifier": "42"}]}
    # a batch in which every record fails is a function error: Lambda retries (and bisects) all of it
    with pytest.raises(BatchFailed):
        indexer_handler.lambda_handler({"Records": [record]}, context("search_indexer"))
