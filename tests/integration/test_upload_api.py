"""The publish API's upload routes: presigned POST policies pinned to key, size and type; upload status."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.publish_api import handler
from marketplace.publishing import service
from tests.integration.events import context, http_event

ROUTE = "ANY /api/publish/{proxy+}"


def _call(method: str, path: str, token: str | None, body: object | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
    result = handler.lambda_handler(http_event(method, path, ROUTE, headers, raw), context("publish_api"))
    return result["statusCode"], json.loads(result["body"])


@pytest.fixture
def token(deployment) -> str:
    return service.create_publisher("uploader", "alice")[1]


def _request(size: int = 2395, digest: str | None = None) -> dict:
    return {"fileName": "hello-0.0.1.vsix", "size": size, "sha256": digest or hashlib.sha256(b"x").hexdigest()}


def test_an_upload_gets_a_presigned_post_pinned_to_key_size_and_type(deployment, token):
    status, body = _call("POST", "/api/publish/uploads", token, _request())
    assert status == 201 and body["status"] == "pending"
    upload = body["upload"]
    assert upload["method"] == "POST" and deployment.env["PACKAGES_BUCKET"] in upload["url"]
    fields = upload["fields"]
    assert fields["key"] == f"uploads/{body['id']}" and fields["Content-Type"] == "application/vsix"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 2395, 2395] in conditions
    assert {"Content-Type": "application/vsix"} in conditions
    assert {"key": f"uploads/{body['id']}"} in conditions
    assert {"bucket": deployment.env["PACKAGES_BUCKET"]} in conditions
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert timedelta(minutes=10) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert "x-amz-signature" in fields and fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"

    status, view = _call("GET", f"/api/publish/uploads/{body['id']}", token)
    assert status == 200 and view["status"] == "pending" and view["size"] == 2395


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**_request(), "size": 200 * 1024 * 1024 + 1}, 413, "at most 209715200 bytes"),
        ({**_request(), "size": 0}, 400, "positive integer"),
        ({**_request(), "size": "12"}, 400, "positive integer"),
        ({**_request(), "sha256": "abc"}, 400, "64 hexadecimal"),
        ({**_request(), "fileName": "x.zip"}, 400, "ending in .vsix"),
        ({**_request(), "fileName": "../x.vsix"}, 400, "path separators"),
        ({**_request(), "fileName": "x\u202e.vsix"}, 400, "control characters"),
        ([1, 2], 400, "JSON object"),
        ("{not json", 400, "not valid JSON"),
    ],
)
def test_bad_upload_requests(deployment, token, body, status, message):
    got, answer = _call("POST", "/api/publish/uploads", token, body)
    assert got == status and message in answer["message"]


def test_the_size_cap_is_configurable(deployment, token, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    status, answer = _call("POST", "/api/publish/uploads", token, _request(size=1001))
    assert status == 413 and "at most 1000 bytes" in answer["message"]


def test_uploads_need_a_valid_token(deployment, token):
    assert _call("POST", "/api/publish/uploads", None, _request())[0] == 401
    status, answer = _call("POST", "/api/publish/uploads", "mkp_aaaaaaaaaaaaaaaa_" + "B" * 43, _request())
    not_valid = "the token is not valid: unknown, revoked or expired"  # an unknown token id
    assert status == 401 and answer == {"error": "unauthorized", "message": not_valid}


def test_a_wrong_token_is_refused_as_not_valid_and_a_missing_one_as_required(deployment, token):
    status, answer = _call("POST", "/api/publish/uploads", None, _request())
    assert status == 401 and answer["message"].startswith("a personal access token is required")
    not_valid = {"error": "unauthorized", "message": "the token is not valid: unknown, revoked or expired"}
    for wrong in ("not-a-token", token + "x"):  # no token has that shape
        assert _call("POST", "/api/publish/uploads", wrong, _request()) == (401, not_valid)
    for basic in ("!!not base64!!", base64.b64encode(b":mkp_short").decode()):  # vsce's Basic auth
        headers = {"content-type": "application/json", "authorization": f"Basic {basic}"}
        event = http_event("POST", "/api/publish/uploads", ROUTE, headers, json.dumps(_request()))
        result = handler.lambda_handler(event, context("publish_api"))
        assert (result["statusCode"], json.loads(result["body"])) == (401, not_valid)


def test_upload_status_is_private_to_its_user(deployment, token):
    _, created = _call("POST", "/api/publish/uploads", token, _request())
    other = service.create_publisher("someoneelse", "bob")[1]
    assert _call("GET", f"/api/publish/uploads/{created['id']}", other)[0] == 404
    assert _call("GET", "/api/publish/uploads/" + "x" * 100, token)[0] == 404


@pytest.mark.parametrize(("days", "warned"), [(3, True), (14, True), (15, False), (90, False)])
def test_an_upload_with_a_token_near_its_end_carries_a_warning(deployment, token, days, warned):
    near = service.create_token("alice", ["uploader"], days=days)
    status, answer = _call("POST", "/api/publish/uploads", near, _request())
    assert status == 201
    assert ("warning" in answer) is warned
    if warned:
        assert "expires on" in answer["warning"] and near not in answer["warning"]
