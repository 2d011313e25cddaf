"""The reviews function through its Lambda handler against moto: Open VSX's paths and shapes, bearer-token
sign-in, every bad input refused with its status and a clear message, hiding, and the extension's rating
totals exact after each change, including many users (and one user replacing their review) racing from
separate processes against moto's server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError

from marketplace.catalog import store as catalog
from marketplace.catalog.store import NewVersion
from marketplace.local.provision import Deployment
from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.errors import MarketplaceError
from marketplace.platform.resources import REVIEWS_TABLE, STATISTICS_TABLE
from marketplace.reviews import routes, service, store
from tests.integration.events import context, http_event
from tests.integration.racing import race
from tests.integration.sync_tokens import SyncIssuer

HOST = "mp.example.test"
LIST_ROUTE = "GET /api/{namespace}/{extension}/reviews"
POST_ROUTE = "ANY /api/{namespace}/{extension}/review"
DELETE_ROUTE = "ANY /api/{namespace}/{extension}/review/delete"


def publish(name: str, version: str, *, publisher: str = "Acme", pre_release: bool = False) -> None:
    catalog.record_version(NewVersion(
        publisher=publisher, name=name, version=version, target_platform="universal", pre_release=pre_release,
        engine="^1.80.0", sha256="0" * 64, size=1, asset_base=f"assets/{publisher}/{name}/{version}/universal/u",
        assets={}, upload_id=f"u-{name}-{version}", published_by="owner", published_at=datetime.now(UTC),
        display_name=name.title()))


def _event(method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None) -> dict[str, Any]:
    route = LIST_ROUTE if path.endswith("/reviews") else DELETE_ROUTE if path.endswith("/delete") else POST_ROUTE
    return http_event(method, path, route, {"host": HOST, **(headers or {})}, body)


class Api:
    def __init__(self, issuer: SyncIssuer) -> None:
        self.issuer = issuer
        from functions.reviews import handler

        self.handler = handler

    def call(self, method: str, path: str, *, user: str | None = "alice", body: Any = None,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        sent = dict(self.issuer.headers(user) if user else {})
        sent.update(headers or {})
        raw = body if isinstance(body, str) or body is None else json.dumps(body)
        answer: dict[str, Any] = self.handler.lambda_handler(_event(method, path, sent, raw), context("reviews"))
        answer["headers"] = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        answer["json"] = json.loads(answer["body"]) if answer.get("body") else None
        return answer

    def post(self, extension: str, body: Any, user: str | None = "alice", **kwargs: Any) -> dict[str, Any]:
        namespace, name = extension.split(".")
        return self.call("POST", f"/api/{namespace}/{name}/review", user=user, body=body, **kwargs)

    def delete(self, extension: str, user: str | None = "alice", **kwargs: Any) -> dict[str, Any]:
        namespace, name = extension.split(".")
        return self.call("POST", f"/api/{namespace}/{name}/review/delete", user=user, **kwargs)

    def reviews(self, extension: str) -> dict[str, Any]:
        namespace, name = extension.split(".")
        return self.call("GET", f"/api/{namespace}/{name}/reviews", user=None)


@pytest.fixture
def issuer() -> SyncIssuer:
    return SyncIssuer()


@pytest.fixture
def api(deployment: Deployment, issuer: SyncIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("AUTH_ISSUERS", issuer.issuers_env())
    routes._rate_limit.cache_clear()
    publish("hello", "1.0.0")
    publish("hello", "1.1.0")
    publish("hello", "2.0.0-beta.1", pre_release=True)
    publish("nightly", "0.1.0", pre_release=True)
    yield Api(issuer)
    routes._rate_limit.cache_clear()


def _error(answer: dict[str, Any], status: int, fragment: str) -> None:
    assert answer["statusCode"] == status, answer
    assert answer["headers"]["content-type"] == "application/json"
    body = answer["json"]
    assert fragment in body["error"] and fragment in body["message"], body


def _totals(extension: str = "acme.hello") -> tuple[int, int]:
    return store.rating_totals(extension)


def test_post_replace_list_and_delete(api: Api) -> None:
    added = api.post("acme.hello", {"rating": 4, "title": "Good", "comment": "Does what it says.\nMostly."})
    assert (added["statusCode"], added["json"]) == (201, {"success": "Added review for Acme.hello"})
    assert added["headers"]["cache-control"] == "no-store" and added["headers"]["x-operation-id"]
    assert _totals() == (4, 1)
    api.post("acme.hello", {"rating": 2}, user="bob")
    assert _totals() == (6, 2)

    listed = api.reviews("acme.hello")
    assert listed["statusCode"] == 200 and listed["headers"]["cache-control"] == "no-cache"
    body = listed["json"]
    assert body["postUrl"] == f"https://{HOST}/api/Acme/hello/review"
    assert body["deleteUrl"] == f"https://{HOST}/api/Acme/hello/review/delete"
    bob, alice = body["reviews"]  # newest first
    assert bob == {"user": {"loginName": bob["user"]["loginName"], "provider": "tests"},
                   "timestamp": bob["timestamp"], "rating": 2, "version": "1.1.0"}
    assert bob["user"]["loginName"].startswith("user-") and len(bob["user"]["loginName"]) == 13
    assert alice["title"] == "Good" and alice["comment"] == "Does what it says.\nMostly." and alice["rating"] == 4
    assert alice["version"] == "1.1.0"  # the latest release, not the newer pre-release
    assert alice["timestamp"].endswith("Z") and len(alice["timestamp"]) == 24
    assert bob["timestamp"] >= alice["timestamp"]

    replaced = api.post("acme.hello", {"rating": 5, "comment": "Better now.", "version": "1.0.0"})
    assert (replaced["statusCode"], replaced["json"]) == (201, {"success": "Updated review for Acme.hello"})
    assert _totals() == (7, 2)
    first = api.reviews("acme.hello")["json"]["reviews"][0]
    assert (first["rating"], first["comment"], first["version"], "title" in first) == (5, "Better now.", "1.0.0",
                                                                                      False)
    assert len(api.reviews("acme.hello")["json"]["reviews"]) == 2  # one review per user

    gone = api.delete("acme.hello")
    assert (gone["statusCode"], gone["json"]) == (200, {"success": "Deleted review for Acme.hello"})
    assert _totals() == (2, 1)
    again = api.delete("acme.hello")
    _error(again, 400, "You have not submitted any review yet.")
    assert [r["rating"] for r in api.reviews("acme.hello")["json"]["reviews"]] == [2]


def test_the_totals_item_keeps_the_other_counters(api: Api) -> None:
    aws.client("dynamodb").update_item(
        TableName=location(STATISTICS_TABLE), Key={"pk": {"S": "EXT#acme.hello"}, "sk": {"S": "TOTALS"}},
        UpdateExpression="ADD downloads :n, installs :m", ExpressionAttributeValues={":n": {"N": "7"},
                                                                                   ":m": {"N": "3"}})
    api.post("acme.hello", {"rating": 3})
    api.post("acme.hello", {"rating": 1})
    item = aws.client("dynamodb").get_item(TableName=location(STATISTICS_TABLE),
                                           Key={"pk": {"S": "EXT#acme.hello"}, "sk": {"S": "TOTALS"}})["Item"]
    assert {k: v["N"] for k, v in item.items() if "N" in v} == {"downloads": "7", "installs": "3",
                                                                 "rating_sum": "1", "rating_count": "1"}


def test_the_reviewed_version(api: Api) -> None:
    assert api.post("acme.nightly", {"rating": 3})["statusCode"] == 201  # only pre-releases: the newest
    assert api.reviews("acme.nightly")["json"]["reviews"][0]["version"] == "0.1.0"
    assert api.post("acme.hello", {"rating": 3, "version": "2.0.0-beta.1"})["statusCode"] == 201
    _error(api.post("acme.hello", {"rating": 3, "version": "9.9.9"}), 400,
           "Extension Acme.hello has no published version 9.9.9")
    catalog.unpublish("acme.hello", "1.0.0", None, datetime.now(UTC))
    _error(api.post("acme.hello", {"rating": 3, "version": "1.0.0"}), 400, "no published version 1.0.0")
    assert api.reviews("acme.hello")["json"]["reviews"][0]["version"] == "2.0.0-beta.1"  # unchanged


def test_sign_in_is_required_to_write(api: Api, issuer: SyncIssuer) -> None:
    for answer in (api.post("acme.hello", {"rating": 5}, user=None), api.delete("acme.hello", user=None)):
        assert answer["statusCode"] == 401 and answer["json"]["error"] == "unauthorized"
        assert answer["headers"]["www-authenticate"].startswith("Bearer")
    expired = issuer.headers("alice", ttl=60, issued_ago=7200)
    assert api.post("acme.hello", {"rating": 5}, user=None, headers=expired)["statusCode"] == 401
    assert api.post("acme.hello", {"rating": 5}, user=None,
                    headers={"authorization": "Bearer not-a-token"})["statusCode"] == 401
    assert _totals() == (0, 0) and api.reviews("acme.hello")["json"]["reviews"] == []


def test_the_public_name_and_provider_come_from_the_token_and_no_token_is_stored(api: Api,
                                                                                issuer: SyncIssuer) -> None:
    now = int(datetime.now(UTC).timestamp())
    token = jwt.encode({"iss": issuer.issuer, "sub": "carol-sub", "aud": issuer.audience, "iat": now, "nbf": now,
                        "exp": now + 600, "preferred_username": "Carol \u202eC"}, issuer.key, algorithm="ES256",
                       headers={"kid": issuer.kid})
    headers = {"authorization": f"Bearer {token}", "x-account-type": "tests"}
    assert api.post("acme.hello", {"rating": 5}, user=None, headers=headers)["statusCode"] == 201
    review = api.reviews("acme.hello")["json"]["reviews"][0]
    assert review["user"] == {"loginName": "Carol C", "provider": "tests"}
    items = aws.client("dynamodb").scan(TableName=location(REVIEWS_TABLE))["Items"]
    assert len(items) == 1
    dumped = json.dumps(items)
    assert token not in dumped and token.split(".")[2] not in dumped and "carol-sub" not in dumped


def test_unknown_extensions_are_404(api: Api) -> None:
    publish("blocked", "1.0.0")
    catalog.set_malicious("acme.blocked", True, "miner", datetime.now(UTC))
    publish("withdrawn", "1.0.0")
    catalog.unpublish("acme.withdrawn", None, None, datetime.now(UTC))
    for extension in ("acme.nope", "nope.hello", "acme.blocked", "acme.withdrawn"):
        namespace, name = extension.split(".")
        _error(api.reviews(extension), 404, f"Extension not found: {namespace}.{name}")
        _error(api.post(extension, {"rating": 4}), 404, f"Extension not found: {namespace}.{name}")
        _error(api.delete(extension), 404, f"Extension not found: {namespace}.{name}")
    for path in ("/api/acme/he%20llo/reviews", "/api/acme/" + "x" * 300 + "/reviews", "/api/-acme/hello/reviews"):
        assert api.call("GET", path, user=None)["statusCode"] == 404


@pytest.mark.parametrize(("body", "fragment"), [
    (None, "No JSON input."),
    ("", "No JSON input."),
    ("{oops", "not valid JSON"),
    ("[5]", "must be a JSON object"),
    ({}, "rating must be an integer from 1 to 5 (got missing)"),
    ({"rating": 0}, "rating must be an integer from 1 to 5 (got 0)"),
    ({"rating": 6}, "rating must be an integer from 1 to 5 (got 6)"),
    ({"rating": 4.5}, "rating must be an integer"),
    ({"rating": "5"}, "rating must be an integer"),
    ({"rating": True}, "rating must be an integer"),
    ({"rating": 5, "title": "t" * 256}, "title is 256 characters long; at most 255"),
    ({"rating": 5, "comment": "c" * 2049}, "comment is 2049 characters long; at most 2048"),
    ({"rating": 5, "title": "a\nb"}, "title contains a control character (U+000A)"),
    ({"rating": 5, "comment": "bell\x07"}, "comment contains a control character (U+0007)"),
    ({"rating": 5, "comment": "evil \u202e txt"}, "comment contains a bidirectional control character (U+202E)"),
    ({"rating": 5, "title": "iso\u2066late"}, "title contains a bidirectional control character (U+2066)"),
    ({"rating": 5, "comment": "zero\u200bwidth"}, "comment contains a zero-width character (U+200B)"),
    ({"rating": 5, "title": "\ufeffbom"}, "title contains a zero-width character (U+FEFF)"),
    ({"rating": 5, "comment": "tag\U000e0041"}, "comment contains an invisible formatting character (U+E0041)"),
    ({"rating": 5, "comment": "line\u2028sep"}, "comment contains a line or paragraph separator (U+2028)"),
    ({"rating": 5, "title": 5}, "title must be a string"),
    ({"rating": 5, "version": "1.0.0#universal"}, "is not a version of this extension"),
])
def test_each_bad_input_is_refused_with_a_clear_message(api: Api, body: Any, fragment: str) -> None:
    _error(api.post("acme.hello", body), 400, fragment)
    assert _totals() == (0, 0) and api.reviews("acme.hello")["json"]["reviews"] == []


def test_a_base64_body_is_read_and_an_oversized_one_is_413(api: Api) -> None:
    import base64

    event = _event("POST", "/api/acme/hello/review", api.issuer.headers("alice"),
                   base64.b64encode(json.dumps({"rating": 4}).encode()).decode())
    event["isBase64Encoded"] = True
    assert api.handler.lambda_handler(event, context("reviews"))["statusCode"] == 201
    _error(api.post("acme.hello", {"rating": 4, "comment": "x" * 70_000}), 413, "larger than")


def test_hide_and_unhide(api: Api) -> None:
    api.post("acme.hello", {"rating": 1, "comment": "spam spam"}, user="mallory")
    api.post("acme.hello", {"rating": 5}, user="alice")
    assert _totals() == (6, 2)
    entry = service.extension_by_id("acme.hello")
    every = store.reviews_of("acme.hello")
    mallory = next(r for r in every if r.rating == 1)

    review, changed = service.set_hidden(entry, service.find(entry, mallory.user_id[:8]).user_id, True, "spam")
    assert changed and review.hidden and review.hidden_reason == "spam"
    assert _totals() == (5, 1)
    assert [r["rating"] for r in api.reviews("acme.hello")["json"]["reviews"]] == [5]
    _, changed = service.set_hidden(entry, mallory.user_id, True, "again")
    assert not changed and _totals() == (5, 1)  # hiding twice changes nothing

    # replacing a hidden review keeps it hidden and out of the average; deleting it changes nothing
    assert api.post("acme.hello", {"rating": 2}, user="mallory")["statusCode"] == 201
    assert _totals() == (5, 1) and len(api.reviews("acme.hello")["json"]["reviews"]) == 1

    review, changed = service.set_hidden(entry, mallory.user_id, False)
    assert changed and not review.hidden and review.hidden_reason is None
    assert _totals() == (7, 2)
    assert sorted(r["rating"] for r in api.reviews("acme.hello")["json"]["reviews"]) == [2, 5]

    service.set_hidden(entry, mallory.user_id, True)
    assert api.delete("acme.hello", user="mallory")["statusCode"] == 200
    assert _totals() == (5, 1)


def test_operators_find_reviews_by_id_prefix_or_name(api: Api) -> None:
    api.post("acme.hello", {"rating": 4}, user="alice")
    entry = service.extension_by_id("acme.hello")
    review = store.reviews_of("acme.hello")[0]
    assert service.find(entry, review.user_id).user_id == review.user_id
    assert service.find(entry, review.user_id[:6].upper()).user_id == review.user_id
    assert service.find(entry, review.display_name).user_id == review.user_id
    with pytest.raises(MarketplaceError, match="has no review by"):
        service.find(entry, "someone-else")
    with pytest.raises(MarketplaceError, match="has no review by"):
        service.find(entry, review.user_id[:3])  # too short to be an id
    with pytest.raises(MarketplaceError, match=r"Extension not found: acme\.nope"):
        service.extension_by_id("acme.nope")


def test_the_rate_limit_on_writes_answers_429(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWS_RATE_LIMIT", "3")
    # an hour's window: with the default minute, a slow run could cross a window's end between the writes
    monkeypatch.setenv("REVIEWS_RATE_WINDOW_SECONDS", "3600")
    routes._rate_limit.cache_clear()
    for rating in (1, 2, 3):
        assert api.post("acme.hello", {"rating": rating})["statusCode"] == 201
    limited = api.post("acme.hello", {"rating": 4})
    assert limited["statusCode"] == 429 and 1 <= int(limited["headers"]["retry-after"]) <= 3600
    assert api.delete("acme.hello")["statusCode"] == 429
    assert api.post("acme.hello", {"rating": 4}, user="bob")["statusCode"] == 201  # per user
    assert api.reviews("acme.hello")["statusCode"] == 200  # reading is not limited
    assert _totals() == (7, 2)


def test_contention_is_retried_and_counted_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB cancels a transaction that races another on the same totals item (TransactionConflict);
    the write is retried from a fresh read and lands exactly once."""
    client = aws.client("dynamodb")
    original = client.transact_write_items
    calls: list[int] = []

    def conflicting(**kwargs: Any) -> Any:
        calls.append(len(kwargs["TransactItems"]))
        if len(calls) <= 2:
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                               "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]},
                              "TransactWriteItems")
        return original(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", conflicting)
    assert api.post("acme.hello", {"rating": 4})["statusCode"] == 201
    assert calls == [2, 2, 2] and _totals() == (4, 1)


def test_endless_contention_is_a_503_not_a_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    client = aws.client("dynamodb")

    def always(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                           "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]},
                          "TransactWriteItems")

    monkeypatch.setattr(client, "transact_write_items", always)
    monkeypatch.setattr(service, "BACKOFF_CAP_SECONDS", 0.001)
    answer = api.post("acme.hello", {"rating": 4})
    assert answer["statusCode"] == 503 and answer["headers"]["retry-after"] == "1"
    assert _totals() == (0, 0)


# --- racing reviewers ----------------------------------------------------------------------------------------


def test_racing_reviewers_keep_the_average_exact(moto_server: dict[str, str], issuer: SyncIssuer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """12 users post at once while a 13th replaces their own review 4 times at once, each in its own process."""
    env = {**moto_server, "AUTH_ISSUERS": issuer.issuers_env()}
    monkeypatch.setenv("AUTH_ISSUERS", env["AUTH_ISSUERS"])
    routes._rate_limit.cache_clear()
    publish("hello", "1.0.0")
    api = Api(issuer)
    assert api.post("acme.hello", {"rating": 1}, user="zed")["statusCode"] == 201

    ratings = {f"user{i:02d}": 1 + (i * 7) % 5 for i in range(12)}
    events = [_event("POST", "/api/acme/hello/review", issuer.headers(user), json.dumps({"rating": rating}))
              for user, rating in ratings.items()]
    replacements = [2, 3, 4, 5]
    events += [_event("POST", "/api/acme/hello/review", issuer.headers("zed"),
                      json.dumps({"rating": rating, "comment": f"take {rating}"})) for rating in replacements]
    answers = race("reviews", env, events)

    bodies = [(a["statusCode"], json.loads(a["body"])) for a in answers]
    assert bodies[:12] == [(201, {"success": "Added review for Acme.hello"})] * 12, bodies
    assert bodies[12:] == [(201, {"success": "Updated review for Acme.hello"})] * 4, bodies
    listed = api.reviews("acme.hello")["json"]["reviews"]
    assert len(listed) == 13
    zed = [r for r in listed if "comment" in r]
    assert len(zed) == 1 and zed[0]["comment"] == f"take {zed[0]['rating']}"
    assert _totals() == (sum(ratings.values()) + zed[0]["rating"], 13)
    assert _totals() == (sum(r["rating"] for r in listed), len(listed))
    routes._rate_limit.cache_clear()
