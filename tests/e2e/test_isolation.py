"""Request isolation in ``marketplace serve``: mixed concurrent requests across every HTTP function (sync reads
and writes, telemetry, reviews, the publish lifecycle, extensionquery with absurdly deep bodies) each get the
answer to the request that was sent. No cross-talk, no 5xx, and the signed-in user's sync history is exactly
what they wrote.

Before each function ran in worker processes of its own, Powertools' resolvers kept the current event on the
class, one per process: a user's ``GET /sync/v1/resource/settings/latest`` could run as a concurrent anonymous
telemetry POST, and its body became the user's settings.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from marketplace.local.runtime import ON_DEMAND
from tests import vsix_factory
from tests.e2e.conftest import Served, http, serving, wait_until

pytestmark = pytest.mark.slow

PUBLISHER, NAME = "isopub", "target"
EXTENSION_ID = f"{PUBLISHER}.{NAME}"
ATTACK = b"ATTACKER-INJECTED-CONTENT"
SETTINGS_WRITES = 15  # the store keeps the last 20 refs: every write must still be listed at the end
REVIEWERS = 12
DEEP = 100_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    limits = {"TELEMETRY_RATE_LIMIT": "100000", "REVIEWS_RATE_LIMIT": "100000", "SYNC_RATE_LIMIT": "100000"}
    with serving(tmp_path_factory.mktemp("isolation"), limits, "--concurrency", "2") as running:
        yield running


@dataclass
class Call:
    """One request and the check that its answer is the answer to *this* request."""

    kind: str
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    check: Callable[[int, dict[str, str], bytes], None]


def _json(body: bytes) -> Any:
    return json.loads(body) if body else None


def _error_json(expected: set[int]) -> Callable[[int, dict[str, str], bytes], None]:
    def check(status: int, headers: dict[str, str], body: bytes) -> None:
        assert status in expected, (status, body[:300])
        assert headers.get("content-type", "").startswith("application/json"), headers
        assert isinstance(_json(body).get("message"), str), body[:300]
    return check


def _token(served: Served, user: str) -> str:
    return served.cli("dev-token", user).stdout.strip().splitlines()[-1]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Account-Type": "local"}


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_mixed_concurrent_requests_never_cross(served: Served, tmp_path: Path) -> None:
    owner = served.cli("publisher", "create", PUBLISHER, "--owner", "iso-owner").stdout.strip().splitlines()[-1]
    package = vsix_factory.build_vsix(tmp_path / "target.vsix", publisher=PUBLISHER, name=NAME, version="1.0.0")
    published = served.cli("publish", str(package), "--registry", served.base_url, "--token", owner, "--quiet")
    assert published.stdout.strip() == f"Published {EXTENSION_ID} v1.0.0."
    alice = _token(served, "alice")
    sync_url = f"{served.base_url}/sync/v1/resource/settings"
    status, headers, _ = http("POST", sync_url, b"ALICE-SETTINGS-initial",
                              {**_auth(alice), "Content-Type": "text/plain", "If-Match": "0"})
    assert status == 200, headers
    reviewers = [_token(served, f"reviewer{i}") for i in range(REVIEWERS)]
    owner_headers = {"Authorization": f"Bearer {owner}", "Content-Type": "application/json"}
    written: dict[str, str] = {}  # ETag -> content of every acknowledged settings write
    lock = threading.Lock()

    def sync_read(status: int, headers: dict[str, str], body: bytes) -> None:
        assert status == 200, (status, body[:300])
        assert body.startswith(b"ALICE-SETTINGS-"), body[:300]
        assert headers.get("etag"), headers

    def sync_write(content: str) -> Callable[[int, dict[str, str], bytes], None]:
        def check(status: int, headers: dict[str, str], body: bytes) -> None:
            assert status == 200, (status, body[:300])
            with lock:
                written[headers["etag"]] = content
        return check

    def telemetry_accepted(status: int, headers: dict[str, str], body: bytes) -> None:
        assert status == 202, (status, body[:300])
        answer = _json(body)
        assert answer["accepted"] == 1 and answer["rejected"] == [], answer

    def reviews_listed(status: int, headers: dict[str, str], body: bytes) -> None:
        assert status == 200, (status, body[:300])
        answer = _json(body)
        assert isinstance(answer["reviews"], list) and "settings" not in json.dumps(answer), answer

    def review_added(status: int, headers: dict[str, str], body: bytes) -> None:
        assert (status, _json(body)) == (201, {"success": f"Added review for {EXTENSION_ID}"}), body[:300]

    def lifecycle(deprecated: bool) -> Callable[[int, dict[str, str], bytes], None]:
        def check(status: int, headers: dict[str, str], body: bytes) -> None:
            assert status == 200, (status, body[:300])
            answer = _json(body)
            assert answer["extension"] == EXTENSION_ID and answer["deprecated"] is deprecated, answer
        return check

    def queried(status: int, headers: dict[str, str], body: bytes) -> None:
        assert status == 200, (status, body[:300])
        [result] = _json(body)["results"]
        names = [f"{e['publisher']['publisherName']}.{e['extensionName']}" for e in result["extensions"]]
        assert names == [EXTENSION_ID], names

    query = json.dumps({"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"},
                                                  {"filterType": 7, "value": EXTENSION_ID}]}],
                        "flags": 0}).encode()
    gallery_json = {"Content-Type": "application/json", "Accept": "application/json;api-version=3.0-preview.1"}
    now = datetime.now(UTC).isoformat()
    telemetry = json.dumps({"events": [{"eventName": "workbench/action", "timestamp": now,
                                        "machineId": "m", "sessionId": "s"}]}).encode()
    calls: list[Call] = []
    calls += [Call("sync-read", "GET", f"{sync_url}/latest", None, _auth(alice), sync_read) for _ in range(100)]
    calls += [Call("sync-write", "POST", sync_url, f"ALICE-SETTINGS-{i}".encode(),
                   {**_auth(alice), "Content-Type": "text/plain"}, sync_write(f"ALICE-SETTINGS-{i}"))
              for i in range(SETTINGS_WRITES)]
    calls += [Call("telemetry-attack", "POST", f"{served.base_url}/api/telemetry", ATTACK,
                   {"Content-Type": "application/json"}, _error_json({400})) for _ in range(100)]
    calls += [Call("telemetry", "POST", f"{served.base_url}/api/telemetry", telemetry,
                   {"Content-Type": "application/json"}, telemetry_accepted) for _ in range(30)]
    calls += [Call("reviews-list", "GET", f"{served.base_url}/api/{PUBLISHER}/{NAME}/reviews", None, {},
                   reviews_listed) for _ in range(30)]
    calls += [Call("review", "POST", f"{served.base_url}/api/{PUBLISHER}/{NAME}/review",
                   json.dumps({"rating": i % 5 + 1, "comment": f"review {i}"}).encode(),
                   {**_auth(token), "Content-Type": "application/json"}, review_added)
              for i, token in enumerate(reviewers)]
    lifecycle_url = f"{served.base_url}/api/publish/extensions/{PUBLISHER}/{NAME}/deprecate"
    calls += [Call("deprecate", "POST", lifecycle_url, b'{"message": "moved"}', owner_headers, lifecycle(True))
              for _ in range(10)]
    calls += [Call("deprecate-deep", "POST", lifecycle_url, _deep(DEEP), owner_headers, _error_json({400}))
              for _ in range(10)]
    calls += [Call("query", "POST", f"{served.base_url}/_apis/public/gallery/extensionquery", query, gallery_json,
                   queried) for _ in range(60)]
    calls += [Call("query-deep", "POST", f"{served.base_url}/_apis/public/gallery/extensionquery", _deep(DEEP),
                   gallery_json, _error_json({400})) for _ in range(20)]
    random.Random(11).shuffle(calls)

    def run(call: Call) -> tuple[Call, int, dict[str, str], bytes]:
        status, headers, body = http(call.method, call.path, call.body, call.headers, timeout=60)
        return call, status, headers, body

    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=12) as pool:
        for call, status, headers, body in pool.map(run, calls):
            try:
                assert status < 500, f"{status} {body[:300]!r}"
                assert headers.get("x-operation-id"), headers
                call.check(status, headers, body)
            except (AssertionError, KeyError, TypeError, ValueError) as error:
                failures.append(f"{call.kind} {call.method} {call.path}: {error}")
    assert not failures, f"{len(failures)} of {len(calls)} answers were not for their request:\n" + "\n".join(
        failures[:20])

    # the lifecycle settles as the last request left it, once more in one thread
    assert http("DELETE", lifecycle_url, None, owner_headers)[0] == 200

    # the sync history is exactly alice's writes: nothing lost, nothing injected
    status, _, body = http("GET", sync_url, None, _auth(alice))
    assert status == 200, body
    refs = _json(body)
    assert len(refs) == SETTINGS_WRITES + 1, refs
    contents: dict[str, str] = {}
    for entry in refs:
        ref = entry["url"].rsplit("/", 1)[-1]
        status, headers, content = http("GET", f"{sync_url}/{ref}", None, _auth(alice))
        assert status == 200, content
        contents[ref] = content.decode()
    assert sorted(contents.values()) == sorted(["ALICE-SETTINGS-initial", *written.values()])
    for etag, text in written.items():
        assert contents[etag] == text
    latest = max(contents, key=lambda ref: int(ref.split("-")[0]))
    status, headers, answer = http("GET", f"{sync_url}/latest", None, _auth(alice))
    assert (status, headers["etag"], answer.decode()) == (200, latest, contents[latest])

    # every review landed once, and the average is exact
    def listed() -> list[dict[str, Any]]:
        status, _, body = http("GET", f"{served.base_url}/api/{PUBLISHER}/{NAME}/reviews")
        assert status == 200
        reviews: list[dict[str, Any]] = _json(body)["reviews"]
        return reviews if len(reviews) == REVIEWERS else []

    reviews = wait_until(listed, timeout=10)
    assert sorted(r["rating"] for r in reviews) == sorted(i % 5 + 1 for i in range(REVIEWERS))


def test_each_function_runs_in_its_own_processes(served: Served) -> None:
    status, _, body = http("GET", f"{served.base_url}/healthz")
    assert status == 200, body
    environments = _json(body)["environments"]
    assert set(environments) == {"gallery", "publish_api", "ingest", "search_indexer", "sync", "reviews",
                                 "telemetry", "stats", "web"}
    for name, report in environments.items():
        least = 0 if name in ON_DEMAND else 1  # the website's first environment starts with its first page
        assert least <= report["environments"] <= report["limit"], (name, report)
        assert report["init_error"] is None, (name, report)
    assert environments["search_indexer"]["limit"] == 1  # its reserved concurrency
    assert environments["gallery"]["limit"] == 2
