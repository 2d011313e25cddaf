"""Tokens, self-service, through the publishing API (scripts use it with a token): list, create (shown once,
never wider than the calling token), revoke; and the per-user limit on creating namespaces and tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.publish_api import handler
from marketplace.publishing import routes, service
from tests.integration.events import context, http_event
from tests.integration.publishing_api import ROUTE, call


@pytest.fixture(autouse=True)
def fresh_limit():
    routes._creation_limit.cache_clear()
    yield
    routes._creation_limit.cache_clear()


def test_a_user_lists_creates_and_revokes_their_own_tokens(deployment):
    _, token = service.create_publisher("acme", "alice")
    status, created = call("POST", "/api/publish/tokens", token, {"namespaces": ["acme"], "days": 7,
                                                                   "description": "CI"})
    assert status == 201 and created["token"].startswith("mkp_") and created["namespaces"] == ["acme"]
    status, listed = call("GET", "/api/publish/tokens", token)
    assert status == 200
    ci = next(t for t in listed["tokens"] if t["id"] == created["id"])
    assert ci["state"] == "active" and "expires on" in ci["warning"]  # 7 days: within the warning's 14
    assert created["token"] not in json.dumps(listed)
    assert service.authenticate(created["token"]).namespaces == {"acme"}
    status, revoked = call("DELETE", f"/api/publish/tokens/{created['id']}", token)
    assert status == 200 and revoked["state"] == "revoked"
    assert call("GET", "/api/publish/tokens", created["token"])[0] == 401


def test_a_token_never_makes_a_wider_one_nor_touches_another_users(deployment):
    service.create_publisher("acme", "alice")
    service.create_publisher("other", "alice")
    narrow = service.create_token("alice", ["acme"])
    status, refused = call("POST", "/api/publish/tokens", narrow, {"namespaces": ["acme", "other"]})
    assert status == 403 and "does not cover other" in refused["message"]
    _, carols = service.create_publisher("carolspace", "carol")
    carol_id = carols.split("_")[1]
    assert call("DELETE", f"/api/publish/tokens/{carol_id}", narrow)[0] == 404
    assert service.authenticate(carols).user == "carol"  # untouched


@pytest.mark.parametrize("body", [{}, {"namespaces": "acme"}, {"namespaces": ["acme"], "days": "7"},
                                  {"namespaces": ["acme"], "days": 1000}, {"namespaces": []},
                                  {"namespaces": ["acme"], "description": "x" * 201}])
def test_bad_token_requests_change_nothing(deployment, body):
    _, token = service.create_publisher("acme", "alice")
    before = [t.token_id for t in service.list_tokens("alice")]
    status, answer = call("POST", "/api/publish/tokens", token, body)
    assert status == 400 and answer["message"]
    assert [t.token_id for t in service.list_tokens("alice")] == before  # (its last use is recorded)


def test_creating_namespaces_and_tokens_is_limited_per_user(deployment, monkeypatch):
    monkeypatch.setenv("PUBLISHING_CREATION_LIMIT", "3")
    _, token = service.create_publisher("acme", "alice")
    answers = [call("POST", "/api/publish/tokens", token, {"namespaces": ["acme"]})[0] for _ in range(2)]
    answers.append(call("POST", "/api/-/namespace/create", token, {"name": "alice-two"})[0])
    status, refused = call("POST", "/api/publish/tokens", token, {"namespaces": ["acme"]})
    assert answers == [201, 201, 201] and status == 429 and "Too many requests" in refused["message"]
    _, bobs = service.create_publisher("bobspace", "bob")  # another user has a window of their own
    assert call("POST", "/api/publish/tokens", bobs, {"namespaces": ["bobspace"]})[0] == 201


def test_an_owner_reads_an_extensions_statistics_as_json_and_csv(deployment):
    from tests import vsix_factory
    from tests.integration.test_ingest import Publisher
    from tests.integration.test_stats_handler import extension_event, invoke, records

    publisher = Publisher(deployment, "statpub")
    publisher.upload(vsix_factory.vsix_bytes(publisher="statpub", name="counted"))
    assert invoke(records(*[extension_event("install", "statpub.counted") for _ in range(3)],
                          extension_event("download", "statpub.counted", days_ago=1),
                          extension_event("uninstall", "statpub.counted"))) == {"batchItemFailures": []}
    status, report = call("GET", "/api/publish/stats/statpub/counted", publisher.token)
    assert status == 200, report
    assert (report["installs"], report["uninstalls"]) == (3, 1)
    assert report["downloads"] == 4  # an install fetches the package too
    today, yesterday = report["events_by_day"][:2]
    assert (today["installs"], today["uninstalls"], yesterday["downloads"]) == (3, 1, 1)

    event = http_event("GET", "/api/publish/stats/statpub/counted", ROUTE,
                       {"authorization": f"Bearer {publisher.token}"}, query="format=csv")
    answer = handler.lambda_handler(event, context("publish_api"))
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "text/csv; charset=utf-8"
    rows = answer["body"].splitlines()
    assert rows[0] == "day,downloads,installs,updates,uninstalls,activations,p50_ms,p95_ms"
    assert rows[1].split(",")[1:5] == [str(today["downloads"]), "3", "0", "1"] and rows[2].split(",")[1] == "1"

    service.add_member("statpub", "bob", "contributor")
    contributor = service.create_token("bob", ["statpub"])
    assert call("GET", "/api/publish/stats/statpub/counted", contributor)[0] == 403
    _, stranger = service.create_publisher("elsewhere", "carol")
    assert call("GET", "/api/publish/stats/statpub/counted", stranger)[0] == 403
    assert call("GET", "/api/publish/stats/statpub/missing", publisher.token)[0] == 404


def test_an_owner_reads_the_statistics_per_version_as_csv(deployment):
    from tests import vsix_factory
    from tests.integration.test_ingest import Publisher
    from tests.integration.test_stats_handler import extension_event, invoke, records

    publisher = Publisher(deployment, "verpub")
    publisher.upload(vsix_factory.vsix_bytes(publisher="verpub", name="counted"))
    path = "/api/publish/stats/verpub/counted"
    status, empty = call("GET", path, publisher.token)
    assert status == 200 and empty["events_by_version"] == [] and empty["events_by_day"] == []  # no event yet

    def csv_of(query: str) -> dict[str, Any]:
        event = http_event("GET", path, ROUTE, {"authorization": f"Bearer {publisher.token}"}, query=query)
        return handler.lambda_handler(event, context("publish_api"))

    empty_csv = csv_of("format=csv&by=version")
    assert empty_csv["statusCode"] == 200 and empty_csv["body"] == "version,downloads,installs,updates,uninstalls\r\n"
    events = [extension_event("install", "verpub.counted", version="1.9.0") for _ in range(2)]
    events += [extension_event("download", "verpub.counted", version="1.10.0"),
               extension_event("uninstall", "verpub.counted", version="1.9.0"),
               extension_event("update", "verpub.counted", version="1.10.0-rc.1")]
    assert invoke(records(*events)) == {"batchItemFailures": []}

    status, report = call("GET", path, publisher.token, query="by=version")  # by alone leaves the JSON as it is
    assert status == 200 and [v["version"] for v in report["events_by_version"]] == ["1.10.0", "1.10.0-rc.1",
                                                                                     "1.9.0"]
    answer = csv_of("format=csv&by=version")
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "text/csv; charset=utf-8"
    assert answer["headers"]["Content-Disposition"] == 'attachment; filename="verpub.counted-statistics-by-version.csv"'
    assert answer["body"].splitlines() == ["version,downloads,installs,updates,uninstalls", "1.10.0,1,0,0,0",
                                           "1.10.0-rc.1,0,0,1,0", "1.9.0,0,2,0,1"]
    by_day = csv_of("format=csv&by=day")  # the days, as without ``by``
    assert by_day["statusCode"] == 200 and by_day["body"] == csv_of("format=csv")["body"]
    assert by_day["body"].splitlines()[0].startswith("day,downloads,")

    for query in ("format=csv&by=week", "by=Version"):
        refused = csv_of(query)
        assert refused["statusCode"] == 400 and "day or version" in json.loads(refused["body"])["message"], query
    service.add_member("verpub", "bob", "contributor")
    contributor = service.create_token("bob", ["verpub"])
    assert call("GET", path, contributor, query="format=csv&by=version")[0] == 403
