"""Telemetry ingest through functions/telemetry/handler.py against moto: answers, what reaches Kinesis, what the
statistics table keeps, refused records retried, limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.telemetry import handler
from marketplace.platform import aws
from marketplace.telemetry import hashkey
from marketplace.telemetry.scrub import Pseudonyms
from tests.integration.events import context, http_event

ROUTE = "ANY /api/telemetry"
CLIENT_IP = "203.0.113.77"
MACHINE = "8e5d7c1a9b3f4e2d6c0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a"
SESSION = "0b6a0c6e-3d2f-4f5e-9a8b-7c6d5e4f3a2b1795521600000"
USER = "alice.developer@example.com"
HOME_PATH = "/home/alice/projects/acme-secret-plan/main.py"
WINDOWS_PATH = "C:\\Users\\Alice Developer\\Documents\\plan.txt"
EMAIL = "bob.builder@example.org"
OTHER_IP = "10.20.30.40"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(n: int = 0, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventName": "vscode/extension/activation",
        "timestamp": _now(),
        "machineId": MACHINE,
        "sessionId": SESSION,
        "userId": USER,
        "properties": {"extensionId": "pub.ext", "seq": str(n), "workspace": HOME_PATH,
                       "note": f"ask {EMAIL} about {WINDOWS_PATH}", "proxy": f"connect {OTHER_IP}:3128 failed"},
        "measurements": {"activationTime": 12.5 + n},
    }
    event.update(overrides)
    return event


def _post(body: str | bytes, headers: dict[str, str] | None = None, source_ip: str = CLIENT_IP,
          base64_body: bool = False) -> dict[str, Any]:
    text = body.decode() if isinstance(body, bytes) else body
    event = http_event("POST", "/api/telemetry", ROUTE, {"content-type": "application/json", **(headers or {})},
                       base64.b64encode(text.encode()).decode() if base64_body else text)
    event["requestContext"]["http"]["sourceIp"] = source_ip
    event["isBase64Encoded"] = base64_body
    return handler.lambda_handler(event, context("telemetry"))


def _send(*events: Any, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    answer = _post(json.dumps({"events": list(events)}), **kwargs)
    return answer["statusCode"], json.loads(answer["body"]), answer["headers"]


def _stream_records(deployment) -> list[bytes]:
    """The data of every record on the events stream, from every shard."""
    kinesis = boto3.client("kinesis")
    arn = deployment.stream_arns["events"]
    found: list[bytes] = []
    for shard in kinesis.list_shards(StreamARN=arn)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, StreamARN=arn)
            found += [record["Data"] for record in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return found


def _stored_events(deployment) -> list[dict[str, Any]]:
    stored = []
    for data in _stream_records(deployment):
        record = json.loads(data)
        assert record["type"] == "telemetry" and record["v"] == 1
        stored += record["events"]
    return stored


def _table_dump(deployment) -> bytes:
    items = boto3.client("dynamodb").scan(TableName=deployment.env["STATISTICS_TABLE"])["Items"]
    return repr(items).encode()


def _secret(deployment) -> bytes:
    item = boto3.client("dynamodb").get_item(TableName=deployment.env["STATISTICS_TABLE"],
                                             Key={"pk": {"S": "CONFIG"}, "sk": {"S": "TELEMETRY_HASH_KEY"}})["Item"]
    return boto3.client("kms").decrypt(CiphertextBlob=item["wrapped"]["B"], EncryptionContext=hashkey.CONTEXT,
                                       KeyId=deployment.env["TELEMETRY_KEY_ID"])["Plaintext"]


# --- answers -----------------------------------------------------------------------------------------------


def test_a_mixed_batch_returns_the_accepted_count_and_each_rejection(deployment):
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    status, body, headers = _send(
        _event(0), _event(1, eventName="bad name!"), _event(2), _event(3, timestamp=old), "not an event",
        _event(5, machineId=""), _event(6, properties={"k": ["list"]}), _event(7, measurements={"t": "fast"}),
        _event(8, userId=None))
    assert status == 202 and headers["X-Operation-Id"] == "req-1"
    assert body["accepted"] == 3
    assert [(r["index"], r["reason"].split(":")[0]) for r in body["rejected"]] == [
        (1, "eventName"), (3, "timestamp"), (4, "the event is not a JSON object"), (5, "machineId"),
        (6, "properties"), (7, "measurements")]
    stored = _stored_events(deployment)
    assert sorted(e["properties"]["seq"] for e in stored) == ["0", "2", "8"]


def test_no_raw_id_email_path_or_address_reaches_kinesis_or_the_table(deployment):
    status, body, _ = _send(*[_event(n) for n in range(30)],
                            headers={"x-forwarded-for": f"{CLIENT_IP}, 198.51.100.1"})
    assert (status, body) == (202, {"accepted": 30, "rejected": []})
    raw_records = _stream_records(deployment)
    assert raw_records, "nothing reached the stream"
    table = _table_dump(deployment)
    forbidden = [MACHINE, SESSION, USER, "alice.developer", EMAIL, "/home/alice", "acme-secret-plan",
                 "Alice Developer", "C:\\\\Users", "Users", CLIENT_IP, "198.51.100.1", OTHER_IP]
    for blob in [*raw_records, table]:
        for value in forbidden:
            assert value.encode() not in blob, f"{value!r} was stored"
    # the ids became the keyed hashes of the deployment's KMS-protected secret
    hashing = Pseudonyms(_secret(deployment))
    stored = _stored_events(deployment)
    assert {e["machineId"] for e in stored} == {hashing.id("m", MACHINE)}
    assert {e["sessionId"] for e in stored} == {hashing.id("s", SESSION)}
    assert {e["userId"] for e in stored} == {hashing.id("u", USER)}
    assert stored[0]["properties"]["workspace"] == "<redacted:path>"
    assert stored[0]["properties"]["note"] == "ask <redacted:email> about <redacted:path>"
    assert stored[0]["properties"]["proxy"] == "connect <redacted:address>:3128 failed"
    assert len(raw_records) == 1  # 30 events, one record


def test_the_secret_is_made_by_kms_stored_wrapped_and_reused(deployment):
    assert _send(_event())[0] == 202
    table = deployment.env["STATISTICS_TABLE"]
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    config = [i for i in items if i["pk"]["S"] == "CONFIG"]
    assert len(config) == 1 and config[0]["sk"]["S"] == "TELEMETRY_HASH_KEY"
    secret = _secret(deployment)
    assert len(secret) == 32 and secret not in _table_dump(deployment)
    assert hashkey.load() == secret  # a cold start elsewhere unwraps the same secret
    assert _send(_event())[0] == 202
    assert len([i for i in boto3.client("dynamodb").scan(TableName=table)["Items"] if i["pk"]["S"] == "CONFIG"]) == 1


def test_concurrent_first_requests_converge_on_one_secret(deployment):
    barrier = threading.Barrier(6)
    secrets: list[bytes] = []

    def first_request() -> None:
        barrier.wait()
        secrets.append(hashkey.load())

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(secrets) == 6 and len(set(secrets)) == 1
    assert secrets[0] == _secret(deployment)


def test_an_instance_that_loses_the_creation_race_uses_the_winners_secret(deployment, monkeypatch):
    winner = hashkey.load()
    real_read = hashkey._read
    reads = []

    def read_missing_once(table: str) -> bytes | None:
        reads.append(table)
        return None if len(reads) == 1 else real_read(table)  # saw no item, then lost the conditional put

    monkeypatch.setattr(hashkey, "_read", read_missing_once)
    assert hashkey.load() == winner and len(reads) == 2


# --- refused records ----------------------------------------------------------------------------------------


def _refusing_put_records(monkeypatch, refuse) -> list[int]:
    """Kinesis refusing the records ``refuse(call number, record)`` picks (the others really stored), as a
    shard over its write limit does."""
    client = aws.client("kinesis")
    real = client.put_records
    calls: list[int] = []

    def put_records(**kwargs: Any) -> dict[str, Any]:
        calls.append(len(kwargs["Records"]))
        records = kwargs["Records"]
        refused = [refuse(len(calls), record) for record in records]
        taken = [record for record, no in zip(records, refused, strict=True) if not no]
        kept = iter(real(**{**kwargs, "Records": taken})["Records"] if taken else [])
        results = [{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
                   if no else next(kept) for no in refused]
        return {"FailedRecordCount": sum(refused), "Records": results}

    monkeypatch.setattr(client, "put_records", put_records)
    return calls


def _first_seq(record: dict[str, Any]) -> int:
    return int(json.loads(record["Data"])["events"][0]["properties"]["seq"])


def test_a_kinesis_partial_failure_loses_no_event(deployment, monkeypatch):
    monkeypatch.setenv("TELEMETRY_RECORD_MAX_EVENTS", "10")
    calls = _refusing_put_records(monkeypatch, lambda call, record: call == 1 and _first_seq(record) % 20 == 10)
    status, body, _ = _send(*[_event(n) for n in range(100)])
    assert (status, body) == (202, {"accepted": 100, "rejected": []})
    assert calls == [10, 5]  # ten records; the five refused ones sent again
    stored = _stored_events(deployment)
    assert sorted(int(e["properties"]["seq"]) for e in stored) == list(range(100))  # each exactly once


def test_events_kinesis_keeps_refusing_are_reported_for_sending_again(deployment, monkeypatch):
    monkeypatch.setenv("TELEMETRY_RECORD_MAX_EVENTS", "10")
    monkeypatch.setenv("TELEMETRY_PUT_DEADLINE_MS", "300")
    calls = _refusing_put_records(monkeypatch, lambda call, record: _first_seq(record) < 20)
    status, body, _ = _send(*[_event(n) for n in range(40)])
    assert status == 202 and body["accepted"] == 20 and len(calls) > 2
    assert [r["index"] for r in body["rejected"]] == list(range(20))
    assert {r["reason"] for r in body["rejected"]} == {
        "unavailable: the event stream did not take this event in time; send it again"}
    assert sorted(int(e["properties"]["seq"]) for e in _stored_events(deployment)) == list(range(20, 40))


def test_nothing_stored_answers_503_with_retry_after(deployment, monkeypatch):
    monkeypatch.setenv("TELEMETRY_PUT_DEADLINE_MS", "200")
    client = aws.client("kinesis")

    def refuse_all(**kwargs: Any) -> dict[str, Any]:
        return {"FailedRecordCount": len(kwargs["Records"]),
                "Records": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"} for _ in kwargs["Records"]]}

    monkeypatch.setattr(client, "put_records", refuse_all)
    status, body, headers = _send(_event(0), _event(1))
    assert status == 503 and body["error"] == "service_unavailable" and headers["Retry-After"] == "5"
    assert _stream_records(deployment) == []


# --- limits --------------------------------------------------------------------------------------------------


def test_batches_over_the_limits_are_refused_whole(deployment):
    status, body, _ = _send(*[_event(n) for n in range(501)])
    assert status == 413 and "500" in body["message"]
    big = json.dumps({"events": [_event(n, properties={"pad": "x" * 1000}) for n in range(400)]})
    exactly_1_mib = big[:-1] + " " * (1024 * 1024 - len(big)) + "}"
    assert len(exactly_1_mib.encode()) == 1024 * 1024
    assert _post(exactly_1_mib + " ")["statusCode"] == 413
    assert _post(exactly_1_mib + " ", base64_body=True)["statusCode"] == 413
    assert _stream_records(deployment) == []
    answer = _post(exactly_1_mib)
    assert answer["statusCode"] == 202 and json.loads(answer["body"])["accepted"] == 400


@pytest.mark.parametrize("body", ["", "{", "[]", '"events"', '{"events": {}}', '{"events": []}', '{"events": null}'])
def test_malformed_batches_are_refused_whole(deployment, body):
    answer = _post(body)
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["error"] == "bad_request"


def test_base64_bodies_are_read_and_bad_base64_refused(deployment):
    answer = _post(json.dumps({"events": [_event()]}), base64_body=True)
    assert answer["statusCode"] == 202 and json.loads(answer["body"])["accepted"] == 1
    event = http_event("POST", "/api/telemetry", ROUTE, {}, "not base64!")
    event["isBase64Encoded"] = True
    assert handler.lambda_handler(event, context("telemetry"))["statusCode"] == 400


def test_compressed_bodies_and_other_methods_are_refused(deployment):
    answer = _post(json.dumps({"events": [_event()]}), headers={"content-encoding": "gzip"})
    assert answer["statusCode"] == 415
    get = handler.lambda_handler(http_event("GET", "/api/telemetry", ROUTE), context("telemetry"))
    assert get["statusCode"] == 405 and get["headers"]["Allow"] == "POST"


def test_each_client_is_rate_limited_by_a_hash_of_its_address(deployment, monkeypatch):
    monkeypatch.setenv("TELEMETRY_RATE_LIMIT", "2")
    assert _send(_event())[0] == 202
    assert _send(_event(), headers={"x-forwarded-for": "192.0.2.1"})[0] == 202  # not behind CloudFront: ignored
    status, body, headers = _send(_event())
    assert status == 429 and body["error"] == "too_many_requests" and 1 <= int(headers["Retry-After"]) <= 60
    assert _post("{not json")["statusCode"] == 429  # counted before the body is even read
    assert _send(_event(), source_ip="198.51.100.20")[0] == 202  # another client has its own budget
    # behind CloudFront (the origin secret verified) the viewer's address counts, not CloudFront's
    monkeypatch.setenv("MARKETPLACE_ORIGIN_SECRET", "origin-secret")
    via_cdn = {"x-origin-verify": "origin-secret", "cloudfront-viewer-address": f"{CLIENT_IP}:1234"}
    assert _send(_event(), headers=via_cdn, source_ip="130.176.0.1")[0] == 429
    # a caller who skips CloudFront cannot choose its address: forged headers without the secret are refused
    forged = {"x-amz-cf-id": "abc", "cloudfront-viewer-address": "192.0.2.99:1", "x-forwarded-for": "192.0.2.99"}
    assert _send(_event(), headers=forged, source_ip="130.176.0.9")[0] == 403
    viewer = {"x-origin-verify": "origin-secret", "cloudfront-viewer-address": "198.51.100.20:53412"}
    assert _send(_event(), headers=viewer, source_ip="130.176.0.2")[0] == 202
    assert _send(_event(), headers=viewer, source_ip="130.176.0.3")[0] == 429
    table = _table_dump(deployment)
    for address in (CLIENT_IP, "198.51.100.20", "192.0.2.99", "130.176.0.1"):
        assert address.encode() not in table
    expected_key = hmac.new(hmac.digest(_secret(deployment), b"marketplace/telemetry/client-address/v1", "sha256"),
                            f"{datetime.now(UTC).date().isoformat()}\x00{CLIENT_IP}".encode(),
                            hashlib.sha256).hexdigest()[:32]
    assert f"RATE#telemetry#{expected_key}".encode() in table
