"""The sync function's HTTP answers (statuses, headers, JSON errors) through its Lambda handler against moto,
and the conditional write under real concurrency: writers in separate processes (like separate Lambda
instances) against moto's server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from marketplace.local.provision import Deployment
from marketplace.sync import routes
from tests.integration.events import context, http_event
from tests.integration.racing import race
from tests.integration.sync_tokens import SyncIssuer

ROUTE = "ANY /sync/{proxy+}"


@pytest.fixture
def issuer() -> SyncIssuer:
    return SyncIssuer()


@pytest.fixture
def api(deployment: Deployment, issuer: SyncIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AUTH_ISSUERS", issuer.issuers_env())
    routes.service.cache_clear()
    routes._rate_limit.cache_clear()
    from functions.sync import handler

    def call(method: str, path: str, headers: dict[str, str] | None = None, body: str | bytes | None = None,
             user: str | None = "alice") -> dict[str, Any]:
        sent = dict(issuer.headers(user) if user else {})
        sent.update(headers or {})
        event = http_event(method, path, ROUTE, sent)
        if isinstance(body, bytes):
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        elif body is not None:
            event["body"] = body
        answer: dict[str, Any] = handler.lambda_handler(event, context("sync"))
        answer["headers"] = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        return answer

    yield call
    routes.service.cache_clear()
    routes._rate_limit.cache_clear()


def _error(answer: dict[str, Any], status: int) -> dict[str, Any]:
    assert answer["statusCode"] == status, answer
    assert answer["headers"]["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(answer["body"])
    assert set(body) == {"error", "message"} and body["message"]
    assert answer["headers"]["x-operation-id"]
    return body


def test_the_protocol_headers(api: Any) -> None:
    empty = api("GET", "/sync/v1/manifest")
    assert (empty["statusCode"], empty["headers"]["etag"]) == (204, "0")
    assert api("GET", "/sync/v1/resource/settings/latest")["headers"]["etag"] == "0"
    written = api("POST", "/sync/v1/resource/settings", {"content-type": "text/plain"}, '{"version":2,"content":"{}"}')
    assert written["statusCode"] == 200
    ref = written["headers"]["etag"]
    latest = api("GET", "/sync/v1/resource/settings/latest", {"cache-control": "no-cache"})
    assert (latest["statusCode"], latest["headers"]["etag"]) == (200, ref)
    assert latest["body"] == '{"version":2,"content":"{}"}'
    assert latest["headers"]["cache-control"] == "no-store"
    assert api("GET", "/sync/v1/resource/settings/latest", {"if-none-match": ref})["statusCode"] == 304
    manifest = api("GET", "/sync/v1/manifest")
    assert manifest["statusCode"] == 200
    body = json.loads(manifest["body"])
    assert body["latest"] == {"settings": ref} and body["collections"] == {} and body["session"]
    unchanged = api("GET", "/sync/v1/manifest", {"if-none-match": manifest["headers"]["etag"]})
    assert (unchanged["statusCode"], unchanged["headers"]["etag"]) == (304, manifest["headers"]["etag"])
    stale = api("POST", "/sync/v1/resource/settings", {"if-match": "0"}, "x")
    assert _error(stale, 412)["error"] == "precondition_failed"
    refs = json.loads(api("GET", "/sync/v1/resource/settings")["body"])
    assert refs == [{"url": f"/sync/v1/resource/settings/{ref}", "created": refs[0]["created"]}]
    assert api("GET", f"/sync/v1/resource/settings/{ref}")["body"] == '{"version":2,"content":"{}"}'
    collection = api("POST", "/sync/v1/collection", {"content-type": "text/plain"})
    assert collection["statusCode"] == 200 and len(collection["body"]) == 32
    assert json.loads(api("GET", "/sync/v1/collection")["body"]) == [{"id": collection["body"]}]
    for answer in (empty, written, latest, manifest, collection):
        assert answer["headers"]["x-operation-id"] == "req-1"


def test_bad_input_gets_its_status_and_a_json_error(api: Any, issuer: SyncIssuer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    assert _error(api("GET", "/sync/v1/manifest", user=None), 401)["error"] == "unauthorized"
    expired = issuer.headers("alice", ttl=60, issued_ago=7200)
    _error(api("GET", "/sync/v1/manifest", expired, user=None), 401)
    other_audience = issuer.headers("alice", audience="someone-else")
    _error(api("GET", "/sync/v1/manifest", other_audience, user=None), 401)
    forged = issuer.headers("alice", key=ec.generate_private_key(ec.SECP256R1()))
    _error(api("GET", "/sync/v1/manifest", forged, user=None), 401)
    _error(api("GET", "/sync/v1/manifest", {"authorization": "Bearer not-a-jwt"}, user=None), 401)
    for name in ("set-tings", "a" * 33, "abc1", "s%C3%A9ttings", "_x"):
        _error(api("GET", f"/sync/v1/resource/{name}/latest"), 400)
        _error(api("POST", f"/sync/v1/resource/{name}", body="x"), 400)
    for ref in ("12", "latest1", "1-ZZZZZZZZ", "00-00000000", "9" * 40):
        _error(api("GET", f"/sync/v1/resource/settings/{ref}"), 400)
        _error(api("DELETE", f"/sync/v1/resource/settings/{ref}"), 400)
    _error(api("GET", "/sync/v1/resource/settings/1-00000000"), 404)
    _error(api("GET", "/sync/v1/collection/not-a-collection/resource/settings/latest"), 400)
    _error(api("POST", "/sync/v1/collection/" + "f" * 32 + "/resource/settings", body="x"), 404)
    oversize = api("POST", "/sync/v1/resource/settings", body="x" * (4 * 1024 * 1024 + 1))
    assert "settings" in _error(oversize, 413)["message"]
    _error(api("POST", "/sync/v1/resource/settings", body=b"\xff\xfe invalid utf-8"), 400)
    _error(api("GET", "/sync/v1/unknown"), 404)
    # nothing was written by any of it
    assert api("GET", "/sync/v1/manifest")["statusCode"] == 204


def test_users_see_only_their_own_data(api: Any) -> None:
    api("POST", "/sync/v1/resource/settings", body="alice's", user="alice")
    assert api("GET", "/sync/v1/manifest", user="bob")["statusCode"] == 204
    assert api("GET", "/sync/v1/resource/settings/latest", user="bob")["statusCode"] == 204
    assert api("GET", "/sync/v1/resource/settings/latest", user="alice")["body"] == "alice's"


def test_the_rate_limit_answers_429_with_retry_after(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_RATE_LIMIT", "5")
    routes._rate_limit.cache_clear()
    for _ in range(5):
        assert api("GET", "/sync/v1/manifest")["statusCode"] == 204
    limited = api("GET", "/sync/v1/manifest")
    _error(limited, 429)
    assert 1 <= int(limited["headers"]["retry-after"]) <= 60
    assert api("GET", "/sync/v1/manifest", user="bob")["statusCode"] == 204  # per user


def test_cors_exposes_the_etag(api: Any) -> None:
    preflight = api("OPTIONS", "/sync/v1/resource/settings", {
        "origin": "https://editor.example", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,if-match,x-account-type"}, user=None)
    assert preflight["statusCode"] == 204
    assert preflight["headers"]["access-control-allow-origin"] == "*"
    answer = api("GET", "/sync/v1/manifest", {"origin": "https://editor.example"})
    assert "etag" in answer["headers"]["access-control-expose-headers"].lower()


# --- racing writers ----------------------------------------------------------------------------------------


@pytest.fixture
def racing(moto_server: dict[str, str], issuer: SyncIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    env = {**moto_server, "AUTH_ISSUERS": issuer.issuers_env()}
    monkeypatch.setenv("AUTH_ISSUERS", env["AUTH_ISSUERS"])
    routes.service.cache_clear()
    routes._rate_limit.cache_clear()
    from functions.sync import handler

    def call(method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None) -> Any:
        return handler.lambda_handler(http_event(method, path, ROUTE, {**issuer.headers("alice"), **(headers or {})},
                                                 body), context("sync"))

    yield env, call
    routes.service.cache_clear()
    routes._rate_limit.cache_clear()


def _listed_refs(call: Any) -> list[str]:
    listed = call("GET", "/sync/v1/resource/settings")
    return [entry["url"].rsplit("/", 1)[1] for entry in json.loads(listed["body"])]


def test_racing_writers_with_the_same_if_match(racing: Any, issuer: SyncIssuer) -> None:
    env, call = racing
    writers = 6
    base_ref = call("POST", "/sync/v1/resource/settings", body="base")["headers"]["ETag"]
    headers = {**issuer.headers("alice"), "if-match": base_ref, "content-type": "text/plain"}
    events = [http_event("POST", "/sync/v1/resource/settings", ROUTE, headers, f"writer-{i}") for i in range(writers)]
    answers = race("sync", env, events)
    statuses = sorted(answer["statusCode"] for answer in answers)
    assert statuses == [200] + [412] * (writers - 1), answers
    winner = next(i for i, answer in enumerate(answers) if answer["statusCode"] == 200)
    winner_ref = answers[winner]["headers"]["ETag"]
    assert _listed_refs(call) == [winner_ref, base_ref]  # nothing lost, nothing duplicated
    latest = call("GET", "/sync/v1/resource/settings/latest")
    assert (latest["body"], latest["headers"]["ETag"]) == (f"writer-{winner}", winner_ref)


def test_racing_appends_without_if_match_all_land(racing: Any, issuer: SyncIssuer) -> None:
    """Edit Sessions write without If-Match: every racing write gets its own ref, none overwrites another."""
    env, call = racing
    writers = 5
    events = [http_event("POST", "/sync/v1/resource/settings", ROUTE, issuer.headers("alice"), f"session-{i}")
              for i in range(writers)]
    answers = race("sync", env, events)
    assert [answer["statusCode"] for answer in answers] == [200] * writers, answers
    refs = [answer["headers"]["ETag"] for answer in answers]
    assert sorted(_listed_refs(call)) == sorted(refs) and len(set(refs)) == writers
    for i, ref in enumerate(refs):
        assert call("GET", f"/sync/v1/resource/settings/{ref}")["body"] == f"session-{i}"
