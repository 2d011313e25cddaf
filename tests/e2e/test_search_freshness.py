"""Search freshness end to end on the local marketplace: a package published through ``marketplace publish``
(presigned POST, S3 event, SQS, ingest, DynamoDB stream, search indexer, snapshot in S3, the gallery's
loader) shows up in ``extensionquery`` text search within a minute; ``marketplace search rebuild`` rewrites
the snapshot from the table."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests import vsix_factory
from tests.e2e.conftest import Served, http

pytestmark = pytest.mark.slow

FRESHNESS_LIMIT_SECONDS = 60
FLAGS = 950  # what VS Code sends


def _search(served: Served, text: str) -> list[str]:
    body = {"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"},
                                      {"filterType": 10, "value": text},
                                      {"filterType": 12, "value": "4096"}],
                         "pageNumber": 1, "pageSize": 50, "sortBy": 0, "sortOrder": 0}],
            "assetTypes": [], "flags": FLAGS}
    status, _, answer = http("POST", f"{served.base_url}/_apis/public/gallery/extensionquery",
                             json.dumps(body).encode(), {"Content-Type": "application/json",
                                                         "Accept": "application/json;api-version=3.0-preview.1"})
    assert status == 200, answer
    extensions = json.loads(answer)["results"][0]["extensions"]
    return [f"{e['publisher']['publisherName']}.{e['extensionName']}".lower() for e in extensions]


def test_a_published_extension_is_searchable_within_a_minute(served: Served, tmp_path: Path):
    word = f"zq{uuid.uuid4().hex[:10]}"  # a word no other extension has
    token = served.cli("publisher", "create", "freshpub", "--owner", "fresh-owner").stdout.strip().splitlines()[-1]
    package = vsix_factory.build_vsix(tmp_path / "fresh.vsix", publisher="freshpub", name="finder",
                                      package_json_overrides={"displayName": "Fresh Finder",
                                                              "description": f"Finds {word} quickly"})
    assert _search(served, word) == []
    published = served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet")
    assert published.stdout.strip() == "Published freshpub.finder v1.0.0."
    started = time.monotonic()
    while True:
        found = _search(served, word)
        latency = time.monotonic() - started
        if found:
            break
        assert latency < FRESHNESS_LIMIT_SECONDS, f"not searchable after {latency:.1f} s"
        time.sleep(0.25)
    print(f"\nsearch freshness: searchable {latency:.1f} s after the publish was confirmed")
    assert found == ["freshpub.finder"]
    assert _search(served, "fresh fin") == ["freshpub.finder"]  # as-you-type prefixes

    rebuilt = served.cli("search", "rebuild")
    assert rebuilt.stdout.startswith("Rebuilt the search snapshot: ") and " in 64 segments" in rebuilt.stdout
    assert _search(served, word) == ["freshpub.finder"]
    as_json = json.loads(served.cli("search", "rebuild", "--json").stdout)
    assert as_json["segments"] == 64 and as_json["extensions"] >= 1
