"""Every HTTP route reads its body through the platform's decoder: absurd nesting, integers past Python's digit
limit, the wrong top-level type, bad base64, bad UTF-8 and an undeclared Content-Encoding are short 4xx JSON
errors on every route, never a 500; gzip is taken only where a route accepts it (sync), with a cap on what it
decompresses to."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from marketplace.local.provision import Deployment
from marketplace.publishing import service
from tests.integration.events import context, http_event
from tests.integration.sync_tokens import SyncIssuer

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
HUGE = "9" * 5000

Send = Callable[..., dict[str, Any]]


def _event(method: str, path: str, route: str, body: str | bytes | None, headers: dict[str, str] | None,
           b64: bool) -> dict[str, Any]:
    event = http_event(method, path, route, {"host": "mp.example.test", "content-type": "application/json",
                                             **(headers or {})})
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    elif body is not None:
        event["body"], event["isBase64Encoded"] = body, b64
    return event


def refused(answer: dict[str, Any], status: int, fragment: str = "") -> str:
    """A short JSON error with ``status``; its message."""
    assert answer["statusCode"] == status, answer
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert len(answer["body"]) < 400 and "Traceback" not in answer["body"], answer["body"][:400]
    body = json.loads(answer["body"])
    message: str = body.get("message", body["error"])  # Open VSX's errors carry the message as "error"
    assert fragment in message, message
    return message


# ------------------------------------------------------------------------------------------- publish API


@pytest.fixture
def publish(deployment: Deployment) -> Send:
    from functions.publish_api import handler

    token = service.create_publisher("somepub", "alice")[1]

    def send(method: str, path: str, body: str | bytes | None, headers: dict[str, str] | None = None,
             b64: bool = False) -> dict[str, Any]:
        route = "POST /api/-/namespace/create" if path == "/api/-/namespace/create" else "ANY /api/publish/{proxy+}"
        event = _event(method, path, route, body, {"authorization": f"Bearer {token}", **(headers or {})}, b64)
        return handler.lambda_handler(event, context("publish_api"))

    return send


PUBLISH_JSON_ROUTES = [
    ("POST", "/api/publish/extensions/somepub/hello/unpublish", '{"version": %s}'),
    ("POST", "/api/publish/extensions/somepub/hello/deprecate", '{"message": %s}'),
    ("POST", "/api/-/namespace/create", '{"name": %s}'),
    ("POST", "/api/publish/uploads", '{"size": %s}'),
]


@pytest.mark.parametrize(("method", "path", "template"), PUBLISH_JSON_ROUTES, ids=lambda v: str(v).rsplit("/")[-1])
def test_publish_api_bodies_past_every_limit_are_400(publish, method, path, template):
    refused(publish(method, path, DEEP_ARRAY), 400, "deeper than 64")
    refused(publish(method, path, DEEP_OBJECT), 400, "deeper than 64")
    refused(publish(method, path, template % HUGE), 400, "digits")
    refused(publish(method, path, template % ("-" + HUGE)), 400, "digits")
    refused(publish(method, path, template % "NaN"), 400, "NaN")
    refused(publish(method, path, "[1, 2]"), 400, "must be a JSON object, not an array")
    refused(publish(method, path, '"text"'), 400, "must be a JSON object, not a string")
    refused(publish(method, path, b'{"name": "\xff\xfe"}'), 400, "not UTF-8")
    refused(publish(method, path, "not base64!", b64=True), 400, "base64")
    refused(publish(method, path, "{oops"), 400, "not valid JSON")


@pytest.mark.parametrize(("method", "path", "template"), PUBLISH_JSON_ROUTES, ids=lambda v: str(v).rsplit("/")[-1])
def test_publish_api_refuses_undeclared_content_encodings(publish, method, path, template):
    refused(publish(method, path, gzip.compress(b"{}"), {"content-encoding": "gzip"}), 415, "Content-Encoding")
    refused(publish(method, path, "{}", {"content-encoding": "br"}), 415, "Content-Encoding")


def test_lifecycle_bodies_may_still_be_empty(publish):
    for path in ("/api/publish/extensions/somepub/hello/unpublish", "/api/publish/extensions/somepub/hello/deprecate"):
        for empty in (None, "", "  "):
            refused(publish("POST", path, empty), 404)  # the body was fine: the extension does not exist


def test_package_bodies_refuse_undeclared_content_encodings(publish):
    refused(publish("POST", "/api/-/publish", gzip.compress(b"PK"), {"content-encoding": "gzip"}), 415)
    refused(publish("POST", "/api/-/publish", "not base64!", b64=True), 400, "base64")


# ----------------------------------------------------------------------------------------------- gallery


@pytest.fixture
def gallery(deployment: Deployment) -> Send:
    from functions.gallery import handler

    def send(method: str, path: str, body: str | bytes | None, headers: dict[str, str] | None = None,
             b64: bool = False) -> dict[str, Any]:
        route = "ANY /_apis/public/gallery/{proxy+}" if path.startswith("/_apis/") else "ANY /api/{proxy+}"
        return handler.lambda_handler(_event(method, path, route, body, headers, b64), context("gallery"))

    return send


GALLERY_JSON_ROUTES = [
    ("POST", "/_apis/public/gallery/extensionquery", '{"filters": [{"pageSize": %s}]}'),
    ("POST", "/api/-/query", '{"size": %s}'),
]


@pytest.mark.parametrize(("method", "path", "template"), GALLERY_JSON_ROUTES, ids=lambda v: str(v).rsplit("/")[-1])
def test_gallery_bodies_past_every_limit_are_400(gallery, method, path, template):
    refused(gallery(method, path, DEEP_ARRAY), 400, "deeper than 64")
    refused(gallery(method, path, DEEP_OBJECT), 400, "deeper than 64")
    refused(gallery(method, path, template % HUGE), 400, "digits")
    refused(gallery(method, path, template % "Infinity"), 400, "Infinity")
    refused(gallery(method, path, "[1, 2]"), 400, "JSON object")
    refused(gallery(method, path, b'{"x": "\xff\xfe"}'), 400, "not UTF-8")
    refused(gallery(method, path, "not base64!", b64=True), 400, "base64")
    refused(gallery(method, path, "{}", {"content-encoding": "br"}), 415, "Content-Encoding")


# ------------------------------------------------------------------------------- reviews, sync, telemetry


@pytest.fixture
def issuer() -> SyncIssuer:
    return SyncIssuer()


@pytest.fixture
def reviews(deployment: Deployment, issuer: SyncIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Send]:
    from functions.reviews import handler
    from marketplace.reviews import routes

    monkeypatch.setenv("AUTH_ISSUERS", issuer.issuers_env())
    monkeypatch.setenv("REVIEWS_RATE_LIMIT", "1000")
    routes._rate_limit.cache_clear()

    def send(body: str | bytes | None, headers: dict[str, str] | None = None, b64: bool = False) -> dict[str, Any]:
        event = _event("POST", "/api/acme/hello/review", "ANY /api/{namespace}/{extension}/review", body,
                       {**issuer.headers("alice"), **(headers or {})}, b64)
        return handler.lambda_handler(event, context("reviews"))

    yield send
    routes._rate_limit.cache_clear()


def _open_vsx_error(answer: dict[str, Any], status: int, fragment: str) -> None:
    message = refused(answer, status, fragment)
    assert json.loads(answer["body"])["error"] == message  # Open VSX's shape: the message under "error" too


def test_review_bodies_past_every_limit_are_400(reviews):
    _open_vsx_error(reviews(DEEP_ARRAY), 413, "larger than 65536 bytes")  # a review is at most 64 KiB
    _open_vsx_error(reviews("[" * 1000 + "]" * 1000), 400, "deeper than 64")
    _open_vsx_error(reviews('{"a":' * 1000 + "1" + "}" * 1000), 400, "deeper than 64")
    _open_vsx_error(reviews('{"rating": ' + HUGE + "}"), 400, "digits")
    _open_vsx_error(reviews('{"rating": NaN}'), 400, "NaN")
    _open_vsx_error(reviews("[5]"), 400, "must be a JSON object")
    _open_vsx_error(reviews(b'{"rating": 5, "title": "\xff"}'), 400, "not UTF-8")
    _open_vsx_error(reviews("not base64!", b64=True), 400, "base64")
    _open_vsx_error(reviews('{"rating": 5}', {"content-encoding": "gzip"}), 415, "Content-Encoding")


@pytest.fixture
def sync(deployment: Deployment, issuer: SyncIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Send]:
    from functions.sync import handler
    from marketplace.sync import routes

    monkeypatch.setenv("AUTH_ISSUERS", issuer.issuers_env())
    routes.service.cache_clear()
    routes._rate_limit.cache_clear()

    def send(method: str, path: str, body: str | bytes | None = None, headers: dict[str, str] | None = None,
             b64: bool = False) -> dict[str, Any]:
        event = _event(method, path, "ANY /sync/{proxy+}", body, {**issuer.headers("alice"), **(headers or {})}, b64)
        event["headers"]["content-type"] = "text/plain"
        return handler.lambda_handler(event, context("sync"))

    yield send
    routes.service.cache_clear()
    routes._rate_limit.cache_clear()


def test_sync_takes_gzip_bodies(sync):
    content = json.dumps({"version": 2, "content": "{\"editor.fontSize\": 14, \"x\": \"caf\u00e9\"}"})
    written = sync("POST", "/sync/v1/resource/settings", gzip.compress(content.encode()), {"content-encoding": "gzip"})
    assert written["statusCode"] == 200, written
    latest = sync("GET", "/sync/v1/resource/settings/latest")
    assert latest["statusCode"] == 200 and latest["body"] == content


def test_sync_caps_what_gzip_decompresses_to(sync, monkeypatch):
    monkeypatch.setenv("SYNC_MAX_BODY_BYTES", "100000")
    bomb = gzip.compress(b"x" * 20_000_000)  # about 20 KB on the wire
    refused(sync("POST", "/sync/v1/resource/settings", bomb, {"content-encoding": "gzip"}), 413, "larger than")
    refused(sync("POST", "/sync/v1/resource/settings", b"not gzip", {"content-encoding": "gzip"}), 400, "gzip")
    refused(sync("POST", "/sync/v1/resource/settings", gzip.compress(b"\xff\xfe"), {"content-encoding": "gzip"}),
            400, "UTF-8")


def test_sync_refuses_other_content_encodings(sync):
    for encoding in ("br", "deflate", "gzip, br"):
        refused(sync("POST", "/sync/v1/resource/settings", "plain text", {"content-encoding": encoding}), 415,
                "Content-Encoding")
    assert sync("POST", "/sync/v1/resource/settings", "plain", {"content-encoding": "identity"})["statusCode"] == 200


@pytest.fixture
def telemetry(deployment: Deployment) -> Send:
    from functions.telemetry import handler

    def send(body: str | bytes | None, headers: dict[str, str] | None = None, b64: bool = False) -> dict[str, Any]:
        event = _event("POST", "/api/telemetry", "ANY /api/telemetry", body, headers, b64)
        return handler.lambda_handler(event, context("telemetry"))

    return send


def test_telemetry_bodies_past_every_limit_are_400(telemetry):
    refused(telemetry(DEEP_ARRAY), 400)
    refused(telemetry('{"events": [{"n": ' + HUGE + "}]}"), 400)
    refused(telemetry("[1, 2]"), 400, "JSON object")
    refused(telemetry("not base64!", b64=True), 400, "base64")
    refused(telemetry(gzip.compress(b"{}"), {"content-encoding": "gzip"}), 415, "Content-Encoding")
