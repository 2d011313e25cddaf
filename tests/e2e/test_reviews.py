"""Reviews end to end on the local marketplace: users signed in with ``marketplace dev-token`` post, replace and
delete reviews over HTTP; the gallery's ``extensionquery`` statistics and the Open VSX API show the exact
average and count at once; an operator lists, hides and unhides reviews with ``marketplace review``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import vsix_factory
from tests.e2e.conftest import Served, http

pytestmark = pytest.mark.slow

PUBLISHER, NAME = "rvpub", "rated"
EXTENSION_ID = f"{PUBLISHER}.{NAME}"
INCLUDE_STATISTICS = 0x100


def _token(served: Served, user: str) -> str:
    return served.cli("dev-token", user).stdout.strip().splitlines()[-1]


def _post(served: Served, token: str | None, body: Any, path: str = "review") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers.update({"Authorization": f"Bearer {token}", "X-Account-Type": "local"})
    status, _, answer = http("POST", f"{served.base_url}/api/{PUBLISHER}/{NAME}/{path}",
                             json.dumps(body).encode() if body is not None else None, headers)
    return status, json.loads(answer)


def _gallery_statistics(served: Served) -> dict[str, float]:
    body = {"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"},
                                      {"filterType": 7, "value": EXTENSION_ID}],
                         "pageNumber": 1, "pageSize": 1, "sortBy": 0, "sortOrder": 0}],
            "assetTypes": [], "flags": INCLUDE_STATISTICS}
    status, _, answer = http("POST", f"{served.base_url}/_apis/public/gallery/extensionquery",
                             json.dumps(body).encode(), {"Content-Type": "application/json",
                                                         "Accept": "application/json;api-version=3.0-preview.1"})
    assert status == 200, answer
    [extension] = json.loads(answer)["results"][0]["extensions"]
    return {s["statisticName"]: s["value"] for s in extension.get("statistics", [])}


def _openvsx(served: Served) -> dict[str, Any]:
    status, _, answer = http("GET", f"{served.base_url}/api/{PUBLISHER}/{NAME}")
    assert status == 200, answer
    return dict(json.loads(answer))


def _shown(served: Served, average: float | None, count: int) -> None:
    statistics = _gallery_statistics(served)
    extension = _openvsx(served)
    assert extension["reviewCount"] == count, extension
    if average is None:
        assert "averagerating" not in statistics and extension.get("averageRating") is None, (statistics, extension)
        return
    assert statistics["averagerating"] == pytest.approx(average) and statistics["ratingcount"] == count, statistics
    assert extension["averageRating"] == pytest.approx(average), extension


def test_reviews_through_the_local_runtime(served: Served, tmp_path: Path) -> None:
    owner = served.cli("publisher", "create", PUBLISHER, "--owner", "rv-owner").stdout.strip().splitlines()[-1]
    package = vsix_factory.build_vsix(tmp_path / "rated.vsix", publisher=PUBLISHER, name=NAME, version="1.0.0")
    published = served.cli("publish", str(package), "--registry", served.base_url, "--token", owner, "--quiet")
    assert published.stdout.strip() == f"Published {EXTENSION_ID} v1.0.0."
    alice, bob = _token(served, "alice"), _token(served, "bob")

    assert _post(served, None, {"rating": 5})[0] == 401
    status, answer = _post(served, alice, {"rating": 5, "title": "Great", "comment": "Works well."})
    assert (status, answer) == (201, {"success": f"Added review for {EXTENSION_ID}"})
    assert _post(served, bob, {"rating": 2})[0] == 201
    _shown(served, 3.5, 2)

    status, answer = _post(served, bob, {"rating": 4, "comment": "Fixed my issue"})
    assert (status, answer) == (201, {"success": f"Updated review for {EXTENSION_ID}"})
    _shown(served, 4.5, 2)
    status, answer = _post(served, bob, {"rating": 4, "comment": "bad \u202e text"})
    assert status == 400 and "bidirectional control character (U+202E)" in answer["error"]

    status, _, listed = http("GET", f"{served.base_url}/api/{PUBLISHER}/{NAME}/reviews")
    reviews = json.loads(listed)
    assert status == 200 and reviews["postUrl"] == f"{served.base_url}/api/{PUBLISHER}/{NAME}/review"
    assert [(r["user"]["loginName"], r["user"]["provider"], r["rating"], r["version"]) for r in reviews["reviews"]] \
        == [("bob", "local", 4, "1.0.0"), ("alice", "local", 5, "1.0.0")]
    assert _openvsx(served)["reviewsUrl"] == f"{served.base_url}/api/{PUBLISHER}/{NAME}/reviews"

    # the operator hides bob's review: it leaves the list and the average, and comes back
    operator_view = json.loads(served.cli("review", "list", EXTENSION_ID, "--json").stdout)
    assert (operator_view["rating_sum"], operator_view["rating_count"]) == (9, 2)
    assert [(r["reviewer"], r["hidden"]) for r in operator_view["reviews"]] == [("bob", False), ("alice", False)]
    hidden = served.cli("review", "hide", EXTENSION_ID, "bob", "--reason", "off-topic")
    assert "by bob" in hidden.stdout and "is now hidden" in hidden.stdout
    _shown(served, 5.0, 1)
    status, _, listed = http("GET", f"{served.base_url}/api/{PUBLISHER}/{NAME}/reviews")
    assert [r["user"]["loginName"] for r in json.loads(listed)["reviews"]] == ["alice"]
    table = served.cli("review", "list", EXTENSION_ID).stdout
    assert "1 counted rating(s), average 5.00" in table and "hidden" in table and "(off-topic)" in table
    bob_id = next(r["id"] for r in operator_view["reviews"] if r["reviewer"] == "bob")
    shown = served.cli("review", "unhide", EXTENSION_ID, bob_id[:10])
    assert "is now visible" in shown.stdout
    _shown(served, 4.5, 2)
    missing = served.cli("review", "hide", EXTENSION_ID, "nobody", check=False)
    assert missing.returncode == 1 and "has no review by 'nobody'" in missing.stderr
    unknown = served.cli("review", "list", "rvpub.nothing", check=False)
    assert unknown.returncode == 1 and "Extension not found: rvpub.nothing" in unknown.stderr

    status, answer = _post(served, alice, None, "review/delete")
    assert (status, answer) == (200, {"success": f"Deleted review for {EXTENSION_ID}"})
    status, answer = _post(served, alice, None, "review/delete")
    assert status == 400 and answer["error"] == "You have not submitted any review yet."
    _shown(served, 4.0, 1)
    assert _post(served, bob, None, "review/delete")[0] == 200
    _shown(served, None, 0)
