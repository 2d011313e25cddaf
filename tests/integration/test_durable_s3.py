"""S3 objects survive a restart of the local runtime byte-identical, with their ETags, content headers, metadata,
version ids, encryption settings, checksums and tags; deleted keys stay deleted; a restore sends no event
notification; bodies are read from the data directory's blob files, not held in memory."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from marketplace.local import durable
from marketplace.local.durable import s3 as durable_s3
from marketplace.local.durable.store import Blob, DataStore, Put
from marketplace.local.provision import Deployment, provision
from marketplace.platform import aws
from tests.integration.durable import active_store

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataStore]:
    with active_store(tmp_path, monkeypatch, durable_s3.install) as data:
        yield data


@contextmanager
def running() -> Iterator[Deployment]:
    """One run of the runtime: moto's backends start empty and the resources are provisioned afresh."""
    with mock_aws():
        aws.reset_clients()
        yield provision("test")
    aws.reset_clients()


@contextmanager
def restarted(store: DataStore) -> Iterator[Deployment]:
    with running() as deployment:
        _drain(deployment)  # what provisioning itself sent (moto's test event)
        durable_s3.restore(store)
        yield deployment


def _drain(deployment: Deployment) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = deployment.env["INGEST_QUEUE_URL"]
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _bucket(deployment: Deployment) -> str:
    return deployment.bucket_names["packages"]


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    head.pop("ResponseMetadata")
    return dict(head)


def _body(s3: Any, bucket: str, key: str, **extra: Any) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    return data


def _missing(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        return error.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def _fake_key(bucket: str, key: str) -> Any:
    from moto.s3.models import s3_backends

    partition, account = s3_backends.bucket_accounts[bucket]
    return s3_backends[account][partition].buckets[bucket].keys[key]


def test_objects_come_back_identical_after_a_restart(store: DataStore) -> None:
    small, big, part = os.urandom(1000), os.urandom(2 * MiB + 17), os.urandom(5 * MiB)
    with running() as deployment:
        bucket, lake = _bucket(deployment), deployment.bucket_names["lake"]
        s3 = boto3.client("s3")
        s3.put_object(Bucket=bucket, Key="assets/small.json", Body=small, ContentType="application/json",
                      ContentEncoding="gzip", CacheControl="public, max-age=31536000, immutable",
                      Metadata={"sha256": "abc", "Mixed-Case": "Value"}, Tagging="team=market&kind=asset")
        s3.put_object(Bucket=bucket, Key="private/big.bin", Body=big, ContentType="application/octet-stream")
        s3.put_object(Bucket=lake, Key="events/a.gz", Body=b"lake", ContentType="application/gzip")
        s3.copy_object(Bucket=bucket, Key="assets/copy.json", CopySource={"Bucket": bucket, "Key": "assets/small.json"},
                       ContentType="text/plain", CacheControl="no-cache", MetadataDirective="REPLACE")
        upload = s3.create_multipart_upload(Bucket=bucket, Key="private/multi.bin", ContentType="application/x-multi",
                                            Metadata={"parts": "2"})
        etags = [s3.upload_part(Bucket=bucket, Key="private/multi.bin", UploadId=upload["UploadId"], PartNumber=n,
                                Body=body)["ETag"] for n, body in ((1, part), (2, small))]
        s3.complete_multipart_upload(Bucket=bucket, Key="private/multi.bin", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                                                for n, e in zip((1, 2), etags, strict=True)]})
        s3.put_object(Bucket=bucket, Key="assets/overwritten", Body=b"first")
        s3.put_object(Bucket=bucket, Key="assets/overwritten", Body=b"second", ContentType="text/plain")
        s3.put_object_tagging(Bucket=bucket, Key="assets/overwritten", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
        s3.put_object(Bucket=bucket, Key="assets/deleted", Body=b"gone")
        s3.delete_object(Bucket=bucket, Key="assets/deleted")
        s3.put_object(Bucket=lake, Key="events/deleted", Body=b"gone")
        s3.delete_object(Bucket=lake, Key="events/deleted")
        for n in range(3):
            s3.put_object(Bucket=bucket, Key=f"private/batch/{n}", Body=b"batch")
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"private/batch/{n}"} for n in range(3)],
                                                 "Quiet": True})
        kept = ["assets/small.json", "private/big.bin", "assets/copy.json", "private/multi.bin", "assets/overwritten"]
        heads = {key: _head(s3, bucket, key) for key in kept}
        bodies = {key: _body(s3, bucket, key) for key in kept}
        lake_head = _head(s3, lake, "events/a.gz")
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        tags = s3.get_object_tagging(Bucket=bucket, Key="assets/small.json")["TagSet"]

    assert heads["assets/small.json"]["ContentEncoding"] == "gzip"
    assert heads["assets/small.json"]["Metadata"] == {"sha256": "abc", "mixed-case": "Value"}
    assert heads["private/multi.bin"]["ETag"].endswith('-2"')
    assert heads["assets/small.json"].get("ChecksumCRC32"), "boto3 sends a checksum moto keeps"
    assert heads["private/big.bin"]["ServerSideEncryption"] == "aws:kms"
    assert store.get("s3", durable_s3.record_key(bucket, "assets/deleted")) is None
    assert not any(k.startswith(f"{bucket}\x1fprivate/batch/") for k, _ in store.scan("s3"))

    with restarted(store) as deployment:
        s3 = boto3.client("s3")
        for key in kept:
            assert _head(s3, bucket, key) == heads[key], key
            assert _body(s3, bucket, key) == bodies[key], key
        assert _head(s3, lake, "events/a.gz") == lake_head
        assert _body(s3, lake, "events/a.gz") == b"lake"
        assert _body(s3, bucket, "private/big.bin", Range="bytes=1000-1999") == big[1000:2000]
        assert _body(s3, bucket, "private/multi.bin", Range="bytes=-5") == small[-5:]
        assert _body(s3, bucket, "assets/overwritten") == b"second"
        assert s3.list_objects_v2(Bucket=bucket)["Contents"] == listed
        assert s3.get_object_tagging(Bucket=bucket, Key="assets/small.json")["TagSet"] == tags
        assert s3.get_object_tagging(Bucket=bucket, Key="assets/overwritten")["TagSet"] == [{"Key": "k", "Value": "v"}]
        for key in ("assets/deleted", "private/batch/0", "private/batch/2"):
            assert _missing(s3, bucket, key)
        assert _missing(s3, lake, "events/deleted")
        # the restored objects behave as any: they can be copied, overwritten and deleted, and that is kept too
        s3.copy_object(Bucket=bucket, Key="private/big-copy.bin",
                       CopySource={"Bucket": bucket, "Key": "private/big.bin"})
        s3.delete_object(Bucket=bucket, Key="assets/overwritten")

    with restarted(store):
        s3 = boto3.client("s3")
        assert _body(s3, bucket, "private/big-copy.bin") == big
        assert _missing(s3, bucket, "assets/overwritten")


def test_presigned_post_uploads_are_kept_and_a_restore_notifies_no_one(store: DataStore) -> None:
    package = os.urandom(3 * MiB)
    with running() as deployment:
        bucket = _bucket(deployment)
        _drain(deployment)
        s3 = boto3.client("s3")
        post = s3.generate_presigned_post(
            Bucket=bucket, Key="uploads/abc", Fields={"Content-Type": "application/vsix"},
            Conditions=[{"Content-Type": "application/vsix"}, ["content-length-range", len(package), len(package)]])
        answer = requests.post(post["url"], data=post["fields"], files={"file": ("x.vsix", package)}, timeout=30)
        assert answer.status_code == 204
        s3.put_object(Bucket=bucket, Key="uploads/def", Body=b"put", ContentType="application/vsix")
        head = _head(s3, bucket, "uploads/abc")
        assert head["ContentType"] == "application/vsix"
        sent = _drain(deployment)
        assert sorted(unquote(m["Records"][0]["s3"]["object"]["key"]) for m in sent) == ["uploads/abc", "uploads/def"]

    with restarted(store) as deployment:
        s3 = boto3.client("s3")
        assert _head(s3, bucket, "uploads/abc") == head
        assert _body(s3, bucket, "uploads/abc") == package
        assert _body(s3, bucket, "uploads/def") == b"put"
        time.sleep(0.1)
        assert _drain(deployment) == []


def test_uploads_through_moto_s_server_are_kept(store: DataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime serves S3 from moto's threaded server: its requests go through the same hooks."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.get_host_and_port()[1]}")
        s3 = boto3.client("s3")
        bucket = f"durable-{os.urandom(4).hex()}"
        s3.create_bucket(Bucket=bucket)
        post = s3.generate_presigned_post(Bucket=bucket, Key="uploads/p", Fields={"Content-Type": "application/vsix"},
                                          Conditions=[{"Content-Type": "application/vsix"}])
        answer = requests.post(post["url"], data=post["fields"], files={"file": ("p.vsix", b"posted")}, timeout=30)
        assert answer.status_code == 204
        s3.put_object(Bucket=bucket, Key="assets/q", Body=b"put", CacheControl="no-store")
        posted = json.loads(store.get("s3", durable_s3.record_key(bucket, "uploads/p")) or b"")
        put = json.loads(store.get("s3", durable_s3.record_key(bucket, "assets/q")) or b"")
        assert posted["metadata"]["content-type"] == "application/vsix" and posted["size"] == len(b"posted")
        assert put["metadata"]["cache-control"] == "no-store"
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "uploads/p"}, {"Key": "assets/q"}]})
        s3.delete_bucket(Bucket=bucket)
        assert store.get("s3", durable_s3.record_key(bucket, "uploads/p")) is None
    finally:
        server.stop()


def test_an_object_is_on_disk_before_its_notification_is_sent(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sqs.models import SQSBackend

    seen: list[bytes | None] = []
    send = SQSBackend.send_message

    def spying(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        key = unquote(json.loads(message_body)["Records"][0]["s3"]["object"]["key"])
        seen.append(store.get("s3", durable_s3.record_key(bucket, key)))
        return send(self, queue_name, message_body, *args, **kwargs)

    with running() as deployment:
        bucket = _bucket(deployment)
        _drain(deployment)
        monkeypatch.setattr(SQSBackend, "send_message", spying)
        boto3.client("s3").put_object(Bucket=bucket, Key="uploads/x", Body=b"x", ContentType="application/vsix")
        assert len(seen) == 1 and seen[0] is not None
        stored = json.loads(store.get("s3", durable_s3.record_key(bucket, "uploads/x")) or b"")
        assert stored["metadata"]["content-type"] == "application/vsix"  # completed when the request ended


def test_bodies_are_read_from_blob_files(store: DataStore) -> None:
    body = os.urandom(MiB + 3)
    with running() as deployment:
        bucket = _bucket(deployment)
        s3 = boto3.client("s3")
        s3.put_object(Bucket=bucket, Key="private/a", Body=body)
        key = _fake_key(bucket, "private/a")
        assert isinstance(key._value_buffer, durable_s3._BlobBody)
        assert key.value == body and key.size == len(body)
        blob = json.loads(store.get("s3", durable_s3.record_key(bucket, "private/a")) or b"")["blob"]
        assert store.blob_path(blob).read_bytes() == body
        assert [(k, b) for kind, k, b, _ in store.referenced_blobs() if kind == "s3"] == [
            (durable_s3.record_key(bucket, "private/a"), blob)]
        versions = s3.list_object_versions(Bucket=bucket)["Versions"]  # deep-copies keys through __getstate__
        assert [v["Key"] for v in versions] == ["private/a"]

    with restarted(store):
        key = _fake_key(bucket, "private/a")
        assert isinstance(key._value_buffer, durable_s3._BlobBody)
        assert _body(boto3.client("s3"), bucket, "private/a", Range="bytes=5-9") == body[5:10]


def test_deleting_a_delete_marker_brings_the_previous_version_back(store: DataStore) -> None:
    with running() as deployment:
        bucket = _bucket(deployment)
        s3 = boto3.client("s3")
        version = s3.put_object(Bucket=bucket, Key="assets/k", Body=b"v1")["VersionId"]
        marker = s3.delete_object(Bucket=bucket, Key="assets/k")["VersionId"]
        assert store.get("s3", durable_s3.record_key(bucket, "assets/k")) is None
        s3.delete_object(Bucket=bucket, Key="assets/k", VersionId=marker)
        assert _body(s3, bucket, "assets/k") == b"v1"

    with restarted(store):
        s3 = boto3.client("s3")
        assert _body(s3, bucket, "assets/k") == b"v1"
        assert _head(s3, bucket, "assets/k")["VersionId"] == version


def test_racing_writers_leave_the_last_state_recorded(store: DataStore) -> None:
    with running() as deployment:
        bucket = _bucket(deployment)

        def write(n: int) -> None:
            s3 = boto3.session.Session().client("s3")
            for i in range(5):
                s3.put_object(Bucket=bucket, Key="private/race", Body=f"{n}-{i}".encode() * 1000)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final = _body(boto3.client("s3"), bucket, "private/race")
        stored = json.loads(store.get("s3", durable_s3.record_key(bucket, "private/race")) or b"")
        assert store.blob_path(stored["blob"]).read_bytes() == final


def test_nothing_is_recorded_while_no_store_is_active(store: DataStore) -> None:
    durable.activate(None)
    with running() as deployment:
        s3 = boto3.client("s3")
        s3.put_object(Bucket=_bucket(deployment), Key="assets/x", Body=b"x")
        s3.delete_object(Bucket=_bucket(deployment), Key="assets/x")
    assert list(store.scan("s3")) == [] and store.writes == 0


def test_a_failed_call_records_nothing(store: DataStore) -> None:
    with running() as deployment:
        bucket = _bucket(deployment)
        s3 = boto3.client("s3")
        s3.put_object(Bucket=bucket, Key="assets/x", Body=b"x")
        writes, before = store.writes, list(store.scan("s3"))
        with pytest.raises(ClientError):
            s3.put_object(Bucket="no-such-bucket-here", Key="assets/x", Body=b"y")
        with pytest.raises(ClientError):
            s3.put_object(Bucket=bucket, Key="assets/x", Body=b"y", IfNoneMatch="*")
        with pytest.raises(ClientError):
            s3.copy_object(Bucket=bucket, Key="assets/y", CopySource={"Bucket": bucket, "Key": "assets/missing"})
        s3.delete_object(Bucket=deployment.bucket_names["lake"], Key="never-there")
        assert store.writes == writes and list(store.scan("s3")) == before


def test_objects_of_missing_buckets_are_skipped(store: DataStore, caplog: pytest.LogCaptureFixture) -> None:
    with running() as deployment:
        bucket = _bucket(deployment)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="scratch-bucket")
        s3.put_object(Bucket="scratch-bucket", Key="a", Body=b"a")
        s3.put_object(Bucket=bucket, Key="assets/kept", Body=b"kept")

    with caplog.at_level(logging.WARNING, logger="marketplace.local"), restarted(store):
        assert _body(boto3.client("s3"), bucket, "assets/kept") == b"kept"
    assert any("scratch-bucket" in r.getMessage() for r in caplog.records)


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _template(store: DataStore) -> tuple[str, dict[str, Any]]:
    with running() as deployment:
        bucket = _bucket(deployment)
        boto3.client("s3").put_object(Bucket=bucket, Key="private/template", Body=b"t", ContentType="text/plain",
                                      Metadata={"a": "b"})
        record = json.loads(store.get("s3", durable_s3.record_key(bucket, "private/template")) or b"")
    return bucket, record


def test_restoring_a_big_object_does_not_read_it(store: DataStore, tmp_path: Path) -> None:
    bucket, record = _template(store)
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(64):
            out.write(os.urandom(MiB))
    with source.open("rb") as data:
        blob = store.write_blob(data)
    store.put("s3", durable_s3.record_key(bucket, "private/huge"),
              json.dumps({**record, "blob": blob.id, "size": blob.size, "etag": "0" * 32}).encode(), blob=blob)
    with running():
        before = _rss()
        durable_s3.restore(store)
        head = boto3.client("s3").head_object(Bucket=bucket, Key="private/huge")
        grown = _rss() - before
    assert head["ContentLength"] == 64 * MiB
    print(f"RSS grew by {grown / MiB:.1f} MiB restoring a 64 MiB object")
    assert grown < 32 * MiB


def test_restoring_fifty_thousand_objects(store: DataStore) -> None:
    bucket, record = _template(store)
    count = 50_000
    value = json.dumps(record).encode()
    blob = Blob(record["blob"], record["size"])
    store.apply(Put("s3", durable_s3.record_key(bucket, f"assets/{n:06d}"), value, blob=blob) for n in range(count))
    with running():
        started = time.perf_counter()
        durable_s3.restore(store)
        elapsed = time.perf_counter() - started
        s3 = boto3.client("s3")
        assert _body(s3, bucket, "assets/049999") == b"t"
        assert s3.head_object(Bucket=bucket, Key="assets/000000")["Metadata"] == {"a": "b"}
        assert s3.list_objects_v2(Bucket=bucket, Prefix="assets/")["KeyCount"] == 1000
    print(f"restored {count + 1} objects in {elapsed:.2f} s")
