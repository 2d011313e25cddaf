"""``ovsx publish``'s answer: ``POST /api/-/publish`` waits for the real ingest (run here as S3 would trigger
it) and answers 201 with the Open VSX ``ExtensionJson`` of the new version."""

from __future__ import annotations

import base64
import json
import threading
import time

import boto3

from functions.ingest import handler as ingest
from functions.publish_api import handler as publish_api
from marketplace.publishing import service
from tests import vsix_factory
from tests.integration.events import context, http_event, sqs_event
from tests.integration.test_ingest import _notification

HOST = "reg.example.test"


def _deliver_uploads(bucket: str, stop: threading.Event) -> None:
    """The S3 notification → queue → ingest path, for every upload that appears."""
    s3 = boto3.client("s3")
    seen: set[str] = set()
    while not stop.is_set():
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="uploads/").get("Contents", []):
            if item["Key"] not in seen:
                seen.add(item["Key"])
                ingest.lambda_handler(sqs_event(_notification(bucket, item["Key"], item["Size"])),
                                      context("ingest"))
        time.sleep(0.05)


def _publish(token: str, data: bytes) -> dict:
    event = http_event("POST", "/api/-/publish", "POST /api/-/publish",
                       headers={"host": HOST, "content-type": "application/octet-stream"},
                       body=base64.b64encode(data).decode(), query=f"token={token}")
    event["isBase64Encoded"] = True
    return publish_api.lambda_handler(event, context("publish_api"))


def test_the_answer_is_the_new_version_s_extension_json(deployment):
    token = service.create_publisher("answers", "ovsx-user")[1]
    stop = threading.Event()
    worker = threading.Thread(target=_deliver_uploads, args=(deployment.env["PACKAGES_BUCKET"], stop), daemon=True)
    worker.start()
    try:
        first = _publish(token, vsix_factory.vsix_bytes(publisher="answers", name="hello", version="1.0.0"))
        answer = _publish(token, vsix_factory.vsix_bytes(publisher="answers", name="hello", version="1.1.0",
                                                         target_platform="linux-x64"))
        duplicate = _publish(token, vsix_factory.vsix_bytes(publisher="answers", name="hello", version="1.0.0"))
    finally:
        stop.set()
        worker.join(timeout=10)

    assert first["statusCode"] == 201, first["body"]
    assert answer["statusCode"] == 201, answer["body"]
    body = json.loads(answer["body"])
    base = f"https://{HOST}/api/answers/hello"
    assert body["success"] == "It can take a couple minutes before the extension version is available"
    assert (body["namespace"], body["name"], body["version"], body["targetPlatform"]) == (
        "answers", "hello", "1.1.0", "linux-x64")
    assert answer["headers"]["Location"] == body["url"] == f"{base}/linux-x64/1.1.0"
    assert body["files"]["download"] == f"{base}/linux-x64/1.1.0/file/answers.hello-1.1.0@linux-x64.vsix"
    assert body["versionAlias"] == ["latest"] and list(body["allVersions"]) == ["latest", "1.1.0", "1.0.0"]
    assert body["publishedBy"] == {"loginName": "ovsx-user"} and body["verified"] is False
    assert body["engines"] == {"vscode": "^1.80.0"} and body["timestamp"].endswith("Z")

    assert duplicate["statusCode"] == 400
    assert json.loads(duplicate["body"])["error"] == "Extension answers.hello-1.0.0 is already published."


def _ovsx(method: str, path: str, token: str, body: dict | None = None) -> dict:
    event = http_event(method, path, f"{method} {path}", headers={"host": HOST, "content-type": "application/json"},
                       body=json.dumps(body) if body is not None else None, query=f"token={token}")
    return publish_api.lambda_handler(event, context("publish_api"))


def test_create_namespace_never_widens_the_token_that_asked(deployment):
    """``ovsx create-namespace other -p <a token for acme>`` used to make that token good for ``other`` too: a
    contributor's (or a leaked CI) token grew with every namespace created through it."""
    service.create_publisher("acme", "alice")
    service.add_member("acme", "mallory", "contributor")
    token = service.create_token("mallory", ["acme"])

    created = _ovsx("POST", "/api/-/namespace/create", token, {"name": "other"})
    assert created["statusCode"] == 201, created["body"]
    assert "does not cover it" in json.loads(created["body"])["success"]

    refused = _ovsx("GET", "/api/other/verify-pat", token)
    assert refused["statusCode"] == 403, refused["body"]
    assert _ovsx("GET", "/api/acme/verify-pat", token)["statusCode"] == 200
    assert service.authenticate(token).namespaces == {"acme"}
    owner = service.create_token("mallory", ["other"])  # the namespace is its creator's: a token naming it works
    assert _ovsx("GET", "/api/other/verify-pat", owner)["statusCode"] == 200


def test_ovsx_create_namespace_follows_the_operators_policy(deployment, monkeypatch):
    service.create_publisher("acme", "alice@example.com")
    token = service.create_token("alice@example.com", ["acme"])
    monkeypatch.setenv("NAMESPACE_CREATION", "operators")
    refused = _ovsx("POST", "/api/-/namespace/create", token, {"name": "other"})
    assert refused["statusCode"] == 403, refused["body"]
    assert "operator creates namespaces" in json.loads(refused["body"])["message"]
    monkeypatch.setenv("NAMESPACE_CREATION", "domains:corp.example")
    assert _ovsx("POST", "/api/-/namespace/create", token, {"name": "other"})["statusCode"] == 403
    monkeypatch.setenv("NAMESPACE_CREATION", "domains:example.com")
    assert _ovsx("POST", "/api/-/namespace/create", token, {"name": "other"})["statusCode"] == 201


def test_ovsx_create_namespace_refuses_a_look_alike_with_the_reason(deployment):
    service.create_publisher("microsoft", "ops", allow_reserved=True)
    service.create_publisher("acme", "mallory")
    token = service.create_token("mallory", ["acme"])
    refused = _ovsx("POST", "/api/-/namespace/create", token, {"name": "rnicro-soft"})
    assert refused["statusCode"] == 409, refused["body"]
    assert "reads like the existing namespace 'microsoft'" in json.loads(refused["body"])["message"]
