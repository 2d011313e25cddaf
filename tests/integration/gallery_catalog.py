"""A small, varied catalog published through the real ingest, and a client for the gallery function.

``gallery_catalog`` (module-scoped) provisions every resource in moto once, publishes the packages below with
``Publisher`` (tests/integration/test_ingest.py's pattern), applies the lifecycle actions (unpublish,
deprecate, block, feature), writes statistics and loads the search index. Tests must not change the catalog;
they may read the event stream (``Events``).

| extension         | what it is                                                                       |
|-------------------|----------------------------------------------------------------------------------|
| acme.linter       | releases 1.0.0, 1.1.0 (1.2.0 unpublished); Linters; tags lint/python; featured; icon |
| acme.themes       | release 2.0.0 and a newer pre-release 2.1.0; Themes; tags dark/theme            |
| beta.nightly      | pre-release only: 0.1.0 and 0.2.0 (published as ``Beta.Nightly``)                |
| beta.native       | 1.0.0 for linux-x64, win32-x64 and darwin-arm64; 0.9.0 universal; also runs on the |
|                   | web, each build's web resources hold ``extension/platform.txt`` naming its platform |
| gamma.webby       | web extension (browser entry, no main): ``__web_extension``, web resources       |
| gamma.bundle      | extensionDependencies acme.linter; extensionPack acme.themes, beta.native        |
| gamma.old         | deprecated, replaced by gamma.bundle, with a message                             |
| acme.gone         | every version unpublished                                                        |
| evil.miner        | blocked as malicious                                                             |
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.gallery import handler
from marketplace.catalog import store as catalog
from marketplace.local.provision import Deployment, provision
from marketplace.platform import aws
from marketplace.platform.dynamo import bind
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.search import indexer, loader
from marketplace.stats import store as stats
from tests import vsix_factory
from tests.integration.conftest import AWS_ENV
from tests.integration.events import context, http_event
from tests.integration.test_ingest import Publisher

HOST = "mp.example.test"
BASE = f"https://{HOST}"
SERVICE = f"{BASE}/_apis/public/gallery"
ROUTE = "ANY /_apis/public/gallery/{proxy+}"
PREFIX = "/_apis/public/gallery"
TARGET = "Microsoft.VisualStudio.Code"

PACKAGE = "Microsoft.VisualStudio.Services.VSIXPackage"
MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
CHANGELOG = "Microsoft.VisualStudio.Services.Content.Changelog"
LICENSE = "Microsoft.VisualStudio.Services.Content.License"
ICON = "Microsoft.VisualStudio.Services.Icons.Default"
VSIXMANIFEST = "Microsoft.VisualStudio.Services.VsixManifest"

WEB_README = "# Webby\n\nRuns in the browser.\n"
LINTER_README = "# Acme Linter\n\nFinds lint in python code.\n"
LINTER_CHANGELOG = "# Changes\n\n## 1.1.0\n\n- Faster\n"
LINTER_LICENSE = "MIT License\n\nCopyright (c) 2026 acme\n"

# Every (extension, version, platform) published and still offered, newest first per extension.
LIVE: dict[str, list[tuple[str, str]]] = {
    "acme.linter": [("1.1.0", "universal"), ("1.0.0", "universal")],
    "acme.themes": [("2.1.0", "universal"), ("2.0.0", "universal")],
    "beta.nightly": [("0.2.0", "universal"), ("0.1.0", "universal")],
    "beta.native": [("1.0.0", "darwin-arm64"), ("1.0.0", "linux-x64"), ("1.0.0", "win32-x64"),
                    ("0.9.0", "universal")],
    "gamma.webby": [("1.0.0", "universal")],
    "gamma.bundle": [("3.0.0", "universal")],
    "gamma.old": [("0.5.0", "universal")],
}
VISIBLE = sorted(LIVE)
INSTALLS = {"acme.linter": 50, "acme.themes": 200, "beta.native": 10, "gamma.webby": 5, "gamma.bundle": 1}
RATINGS = {"acme.linter": (4.5, 10), "acme.themes": (3.0, 2), "gamma.webby": (5.0, 1)}


def _publish(publishers: dict[str, Publisher], namespace: str, **options: Any) -> None:
    options.setdefault("publisher", namespace)
    publishers[namespace.lower()].upload(vsix_factory.vsix_bytes(**options))


def _package(name: str, display: str, description: str, categories: list[str], keywords: list[str],
             **extra: Any) -> dict[str, Any]:
    return {"displayName": display, "description": description, "categories": categories, "keywords": keywords,
            **extra}


def publish_catalog(deployment: Deployment) -> None:
    publishers = {ns: Publisher(deployment, ns) for ns in ("acme", "beta", "gamma", "evil")}
    linter = _package("linter", "Acme Linter", "Finds lint in python code", ["Linters"], ["lint", "python"])
    for number in ("1.0.0", "1.1.0", "1.2.0"):
        _publish(publishers, "acme", name="linter", version=number, icon=True, readme=LINTER_README,
                 changelog=LINTER_CHANGELOG, license_text=LINTER_LICENSE, package_json_overrides=linter)
    themes = _package("themes", "Acme Themes", "Dark colour themes", ["Themes"], ["dark", "theme"])
    _publish(publishers, "acme", name="themes", version="2.0.0", package_json_overrides=themes)
    _publish(publishers, "acme", name="themes", version="2.1.0", pre_release=True, package_json_overrides=themes)
    nightly = _package("Nightly", "Beta Nightly", "Nightly builds of everything", ["Other"], ["nightly"])
    for number in ("0.1.0", "0.2.0"):
        _publish(publishers, "Beta", name="Nightly", version=number, pre_release=True,
                 package_json_overrides=nightly)
    native = _package("native", "Native Bits", "Platform specific binaries", ["Programming Languages"], ["native"],
                      browser="./dist/web/extension.js")
    for platform in ("linux-x64", "win32-x64", "darwin-arm64"):
        _publish(publishers, "Beta", name="native", version="1.0.0", target_platform=platform,
                 package_json_overrides=native, extra_files={"extension/platform.txt": platform})
    _publish(publishers, "Beta", name="native", version="0.9.0", package_json_overrides=native,
             extra_files={"extension/platform.txt": "universal"})
    webby = _package("webby", "Webby", "Runs in the browser", ["Other"], ["web"], main=None)
    _publish(publishers, "gamma", name="webby", version="1.0.0", web=True, readme=WEB_README,
             package_json_overrides=webby)
    bundle = _package("bundle", "Gamma Bundle", "Everything together", ["Extension Packs"], ["pack"],
                      extensionDependencies=["acme.linter"], extensionPack=["acme.themes", "beta.native"])
    _publish(publishers, "gamma", name="bundle", version="3.0.0", package_json_overrides=bundle)
    old = _package("old", "Gamma Old", "The old way", ["Other"], ["legacy"])
    _publish(publishers, "gamma", name="old", version="0.5.0", package_json_overrides=old)
    gone = _package("gone", "Acme Gone", "Withdrawn by its owner", ["Other"], ["gone"])
    _publish(publishers, "acme", name="gone", version="1.0.0", package_json_overrides=gone)
    miner = _package("miner", "Free Coins", "Definitely not a miner", ["Other"], ["coins", "lint"])
    _publish(publishers, "evil", name="miner", version="1.0.0", package_json_overrides=miner)

    now = datetime.now(UTC)
    catalog.unpublish("acme.linter", "1.2.0", None, now)
    catalog.unpublish("acme.gone", None, None, now)
    catalog.deprecate("gamma.old", "gamma.bundle", "Use Gamma Bundle instead.", now)
    catalog.mark_malicious("evil.miner", "mines coins", now)
    featured = catalog.get_extension("acme.linter")
    assert featured is not None
    featured.update(actions=[catalog.ExtensionItem.featured.set(True)])
    # downloadCount counts every package fetch: n installs and n plain downloads make 2n
    stats.add_totals({extension: Counter(install=n, download=n) for extension, n in INSTALLS.items()})
    totals = bind(stats.ExtensionTotals, STATISTICS_TABLE)
    for extension, (average, count) in RATINGS.items():
        totals(stats.ExtensionTotals.key(extension), stats.TOTALS_SK).update(actions=[
            stats.ExtensionTotals.rating_sum.set(average * count), stats.ExtensionTotals.rating_count.set(count)])


def load_search_index() -> None:
    """Write the search snapshot from the table (``marketplace search rebuild``) and make the gallery's index
    load it afresh on its next query."""
    indexer.rebuild()
    loader.reset()


@pytest.fixture(scope="module")
def gallery_catalog() -> Iterator[Deployment]:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        aws.reset_clients()
        deployment = provision("test")
        for name, value in deployment.env.items():
            patch.setenv(name, value)
        publish_catalog(deployment)
        load_search_index()
        yield deployment
        loader.reset()  # the index is process-wide: the next module's catalog is another one
    aws.reset_clients()


# ------------------------------------------------------------------------------------------ the client


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes
    encoding: str | None = field(default=None)

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def text(self) -> str:
        return self.raw.decode()

    @property
    def location(self) -> str:
        return self.headers["location"]


def call(method: str, path: str, *, body: Any = None, query: str = "", headers: dict[str, str] | None = None,
         raw_body: str | None = None, base64_body: bool = False) -> Reply:
    """Invoke the gallery function with an API Gateway payload-v2 event for ``{PREFIX}{path}``: ``body`` is
    sent as JSON, ``raw_body`` as it is (``base64_body``: API Gateway's base64 form)."""
    sent = {"host": HOST, "user-agent": "VSCode 1.100.3 (code-server)", **(headers or {})}
    if body is not None:
        raw_body = json.dumps(body)
    if raw_body is not None:
        sent.setdefault("content-type", "application/json")
    event = http_event(method, PREFIX + path, ROUTE, headers=sent, body=raw_body, query=query)
    event["isBase64Encoded"] = base64_body
    result = handler.lambda_handler(event, context("gallery"))
    out_headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        out_headers.setdefault(name.lower(), ", ".join(values))
    data = result.get("body") or ""
    raw = base64.b64decode(data) if result.get("isBase64Encoded") else data.encode()
    encoding = out_headers.get("content-encoding")
    if encoding == "gzip":
        raw = gzip.decompress(raw)
    return Reply(result["statusCode"], out_headers, raw, encoding)


def query(*criteria: dict[str, Any], flags: int = 950, page_number: int = 1, page_size: int = 50,
          sort_by: int | None = None, sort_order: int = 0, headers: dict[str, str] | None = None) -> Reply:
    flt: dict[str, Any] = {"criteria": list(criteria), "pageNumber": page_number, "pageSize": page_size,
                           "sortOrder": sort_order}
    if sort_by is not None:
        flt["sortBy"] = sort_by
    return call("POST", "/extensionquery", body={"filters": [flt], "assetTypes": [], "flags": flags},
                headers=headers)


def c(kind: int, value: str | None = None) -> dict[str, Any]:
    return {"filterType": kind} if value is None else {"filterType": kind, "value": value}


def results(reply: Reply, index: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The extensions and ``TotalCount`` of ``results[index]``."""
    assert reply.status == 200, reply.raw
    result = reply.json["results"][index]
    (metadata,) = [m for m in result["resultMetadata"] if m["metadataType"] == "ResultCount"]
    (total,) = [i["count"] for i in metadata["metadataItems"] if i["name"] == "TotalCount"]
    return result["extensions"], total


def ids(extensions: list[dict[str, Any]]) -> list[str]:
    return [f"{e['publisher']['publisherName']}.{e['extensionName']}".lower() for e in extensions]


def versions_of(extension: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["version"], v.get("targetPlatform", "universal")) for v in extension["versions"]]


# ----------------------------------------------------------------------------------------- the stream


class Events:
    """Records put on the events stream after this object was made (one LATEST iterator per shard)."""

    def __init__(self, deployment: Deployment) -> None:
        self.kinesis = boto3.client("kinesis")
        self.stream = deployment.env["EVENTS_STREAM"]
        shards = self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        self.iterators = [self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=s["ShardId"],
                                                          ShardIteratorType="LATEST")["ShardIterator"]
                          for s in shards]

    def read(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for position, iterator in enumerate(self.iterators):
            page = self.kinesis.get_records(ShardIterator=iterator)
            records += [json.loads(r["Data"]) for r in page["Records"]]
            self.iterators[position] = page["NextShardIterator"]
        return sorted(records, key=lambda r: r["at"])
