"""The Open VSX read API of the gallery function (docs/protocols/open-vsx.md) on the shared test
catalog (tests/integration/gallery_catalog.py): what ``ovsx get`` and Open VSX web clients read."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from marketplace.catalog import store as catalog
from marketplace.catalog.ids import extension_uuid, publisher_uuid
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET
from tests.integration.events import context, http_event
from tests.integration.gallery_catalog import (
    BASE,
    DETAILS,
    HOST,
    LINTER_README,
    PACKAGE,
    Events,
    Reply,
    gallery_catalog,  # noqa: F401 - the module-scoped fixture
)

ROUTE = "ANY /api/{proxy+}"


def api(path: str, query: str = "", *, method: str = "GET", body: str | None = None,
        headers: dict[str, str] | None = None) -> Reply:
    from functions.gallery import handler

    sent = {"host": HOST, "user-agent": "ovsx", **(headers or {})}
    event = http_event(method, f"/api{path}", ROUTE, headers=sent, body=body, query=query)
    result = handler.lambda_handler(event, context("gallery"))
    out_headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return Reply(result["statusCode"], out_headers, (result.get("body") or "").encode())


def ok(path: str, query: str = "") -> Any:
    reply = api(path, query)
    assert reply.status == 200, (path, reply.raw)
    return reply.json


def error(path: str, query: str = "", status: int = 404) -> str:
    reply = api(path, query)
    assert reply.status == status, (path, reply.status, reply.raw)
    body = reply.json
    assert list(body) == ["error"], body
    return str(body["error"])


@pytest.fixture(autouse=True)
def _catalog(gallery_catalog):  # noqa: F811
    return gallery_catalog


# ------------------------------------------------------------------------------------------- namespaces


def test_a_namespace_lists_its_visible_extensions():
    reply = api("/acme")
    assert reply.status == 200 and reply.headers["cache-control"] == "max-age=600, public"
    assert reply.json == {"name": "acme", "extensions": {"linter": f"{BASE}/api/acme/linter",
                                                         "themes": f"{BASE}/api/acme/themes"},
                          "verified": False, "access": "restricted"}
    assert error("/nobody") == "Namespace not found: nobody"
    assert error("/evil") == "Namespace not found: evil"  # its only extension is blocked
    assert error("/-") == "Namespace not found: -"
    assert error("/" + "x" * 300).startswith("Namespace not found")


def test_namespace_details_rank_extensions_by_downloads():
    details = ok("/acme/details")
    assert details["name"] == "acme" and api("/acme/details").headers["cache-control"] == "no-cache, public"
    assert [(e["name"], e["downloadCount"]) for e in details["extensions"]] == [("themes", 400), ("linter", 100)]
    assert details["extensions"][1]["files"]["icon"].startswith(f"{BASE}/assets/acme/linter/1.1.0/")
    assert error("/nobody/details") == "Namespace not found: nobody"


# ------------------------------------------------------------------------------------------- extensions


def test_the_latest_version_of_an_extension():
    reply = api("/acme/linter")
    assert reply.status == 200 and reply.headers["cache-control"] == "no-cache, public"
    body = reply.json
    assert (body["namespace"], body["name"], body["version"], body["targetPlatform"]) == (
        "acme", "linter", "1.1.0", "universal")
    assert list(body["allVersions"]) == ["latest", "1.1.0", "1.0.0"]  # 1.2.0 was unpublished
    assert body["versionAlias"] == ["latest"] and body["preRelease"] is False
    assert (body["downloadCount"], body["reviewCount"], body["averageRating"]) == (100, 10, 4.5)
    assert body["displayName"] == "Acme Linter" and body["categories"] == ["Linters"]
    assert body["files"]["download"] == f"{BASE}/api/acme/linter/1.1.0/file/acme.linter-1.1.0.vsix"
    assert set(body["files"]) >= {"download", "manifest", "readme", "changelog", "license", "icon", "sha256",
                                  "signature"}
    assert body["downloads"] == {"universal": body["files"]["download"]}
    assert body["publishedBy"] == {"loginName": "owner-of-acme"} and body["timestamp"].endswith("Z")
    assert body["verified"] is False and body["unrelatedPublisher"] is True
    assert api("/ACME/Linter").json["version"] == "1.1.0"  # names are case-insensitive


def test_aliases_versions_and_cache_headers():
    themes = ok("/acme/themes")
    assert themes["version"] == "2.1.0" and themes["versionAlias"] == ["latest", "pre-release"]
    assert list(themes["allVersions"]) == ["latest", "pre-release", "2.1.0", "2.0.0"]
    pinned = api("/acme/themes/2.0.0")
    assert pinned.headers["cache-control"] == "max-age=600, public"
    assert pinned.json["version"] == "2.0.0" and pinned.json["versionAlias"] == []
    assert api("/acme/themes/pre-release").json["version"] == "2.1.0"
    assert api("/acme/themes/latest").headers["cache-control"] == "no-cache, public"
    assert ok("/beta/nightly/pre-release")["version"] == "0.2.0"
    assert error("/acme/linter/pre-release") == "Extension not found: acme.linter pre-release"


def test_target_platforms_pick_their_build():
    native = ok("/beta/native")
    assert (native["version"], native["targetPlatform"]) == ("1.0.0", "darwin-arm64")
    assert sorted(native["downloads"]) == ["darwin-arm64", "linux-x64", "win32-x64"]
    linux = ok("/beta/native/linux-x64")
    assert (linux["version"], linux["targetPlatform"]) == ("1.0.0", "linux-x64")
    assert linux["url"] == f"{BASE}/api/beta/native/linux-x64/1.0.0"
    assert linux["allVersions"] == {"latest": f"{BASE}/api/beta/native/linux-x64/latest",
                                    "1.0.0": f"{BASE}/api/beta/native/linux-x64/1.0.0"}
    assert linux["files"]["download"].endswith("/api/beta/native/linux-x64/1.0.0/file/beta.native-1.0.0@linux-x64.vsix")
    universal = ok("/beta/native/universal")
    assert universal["version"] == "0.9.0" and universal["url"] == f"{BASE}/api/beta/native/0.9.0"
    assert ok("/beta/native/win32-x64/1.0.0")["targetPlatform"] == "win32-x64"
    assert error("/beta/native/alpine-x64") == "Extension not found: beta.native (alpine-x64)"
    assert error("/beta/native/linux-x64/0.9.0") == "Extension not found: beta.native 0.9.0 (linux-x64)"


def test_dependencies_packs_and_deprecation():
    bundle = ok("/gamma/bundle")
    assert bundle["dependencies"] == [{"url": f"{BASE}/api/acme/linter", "namespace": "acme",
                                       "extension": "linter"}]
    assert [d["extension"] for d in bundle["bundledExtensions"]] == ["themes", "native"]
    old = ok("/gamma/old")
    assert old["deprecated"] is True
    assert old["replacement"] == {"url": f"{BASE}/api/gamma/bundle", "displayName": "Gamma Bundle"}


def test_hidden_and_unknown_extensions_are_not_found():
    assert error("/acme/gone") == "Extension not found: acme.gone"
    assert error("/evil/miner") == "Extension not found: evil.miner"
    assert error("/acme/nothing") == "Extension not found: acme.nothing"
    assert error("/acme/linter/1.2.0") == "Extension not found: acme.linter 1.2.0"
    assert error("/acme/linter/9.9.9") == "Extension not found: acme.linter 9.9.9"
    assert error("/acme/linter/1.0").startswith("Not found: /api/acme/linter/1.0")
    assert error("/acme/linter/1.0.0/wrong").startswith("Not found")
    assert error("/acme/x%00y") == "Extension not found: acme.x\x00y"
    assert error("/acme/" + "n" * 500 + "/1.0.0").startswith("Extension not found")
    reply = api("/acme/linter", method="POST", body="{}")  # nothing here takes writes
    assert reply.status == 404


# ------------------------------------------------------------------------------------------- version lists


def test_versions_and_version_references_page():
    versions = api("/beta/native/versions")
    assert versions.status == 200
    assert versions.json == {"offset": 0, "totalSize": 2, "versions": {
        "1.0.0": f"{BASE}/api/beta/native/1.0.0", "0.9.0": f"{BASE}/api/beta/native/0.9.0"}}
    assert ok("/beta/native/linux-x64/versions")["versions"] == {"1.0.0": f"{BASE}/api/beta/native/linux-x64/1.0.0"}
    assert ok("/beta/native/versions", "size=1&offset=1")["versions"] == {"0.9.0": f"{BASE}/api/beta/native/0.9.0"}
    references = ok("/beta/native/version-references")
    assert references["totalSize"] == 4
    assert [(r["version"], r["targetPlatform"]) for r in references["versions"]] == [
        ("1.0.0", "darwin-arm64"), ("1.0.0", "linux-x64"), ("1.0.0", "win32-x64"), ("0.9.0", "universal")]
    assert set(references["versions"][0]["files"]) == {"download", "sha256", "signature", "publicKey"}
    assert references["versions"][0]["files"]["publicKey"].startswith(f"{BASE}/assets/-/signing/")
    assert ok("/beta/native/versions", "size=100000")["totalSize"] == 2
    assert error("/beta/native/versions", "size=-1", 400) == "The parameter 'size' must not be negative."
    assert error("/beta/native/versions", "offset=-5", 400) == "The parameter 'offset' must not be negative."
    assert error("/beta/native/version-references", "size=ten", 400) == "The parameter 'size' must be an integer."
    assert error("/acme/gone/versions") == "Extension not found: acme.gone"


# ----------------------------------------------------------------------------------------------- files


def test_a_package_download_is_counted_and_sent_to_the_cdn(gallery_catalog):  # noqa: F811
    events = Events(gallery_catalog)
    reply = api("/acme/linter/1.1.0/file/acme.linter-1.1.0.vsix")
    assert reply.status == 302 and reply.headers["cache-control"] == "no-store"
    version = catalog.get_version("acme.linter", "1.1.0", "universal")
    assert version is not None
    assert reply.location == f"{BASE}/{version.asset_base}/{PACKAGE}"
    stored = boto3.client("s3").head_object(Bucket=location(PACKAGES_BUCKET), Key=urlsplit(reply.location).path[1:])
    assert stored["ContentLength"] == version.size
    assert api("/beta/native/linux-x64/latest/file/download").status == 302
    # a file URL without a platform names the universal build (URLs leave "universal" out)
    assert api("/beta/native/1.0.0/file/download").status == 404
    universal = api("/beta/native/0.9.0/file/beta.native-0.9.0.vsix")
    assert universal.status == 302 and "/universal/" in universal.location
    recorded = [(e["type"], e["extension"], e["version"], e["target_platform"]) for e in events.read()]
    assert recorded == [("download", "acme.linter", "1.1.0", "universal"),
                        ("download", "beta.native", "1.0.0", "linux-x64"),
                        ("download", "beta.native", "0.9.0", "universal")]


def test_other_files_redirect_and_the_digest_is_answered_here():
    version = catalog.get_version("acme.linter", "1.1.0", "universal")
    assert version is not None
    readme = api("/acme/linter/1.1.0/file/README.md")
    assert readme.status == 302 and readme.location == f"{BASE}/{version.asset_base}/{DETAILS}"
    body = boto3.client("s3").get_object(Bucket=location(PACKAGES_BUCKET),
                                         Key=urlsplit(readme.location).path[1:])["Body"].read()
    assert body.decode() == LINTER_README
    digest = api("/acme/linter/1.1.0/file/acme.linter-1.1.0.sha256")
    assert digest.status == 200 and digest.text == version.sha256
    assert digest.headers["content-type"].startswith("text/plain")
    for missing in ("/acme/linter/1.1.0/file/nothing.txt", "/acme/linter/1.2.0/file/README.md",
                    "/acme/gone/1.0.0/file/README.md", "/acme/linter/1.1.0/file/acme.linter-1.0.0.vsix",
                    "/gamma/webby/1.0.0/file/icon", "/evil/miner/1.0.0/file/download"):
        reply = api(missing)
        assert (reply.status, reply.raw) == (404, b""), missing


# ---------------------------------------------------------------------------------------------- search


def _names(body: dict[str, Any]) -> list[str]:
    return [f"{e['namespace']}.{e['name']}".lower() for e in body["extensions"]]


def test_search_answers_from_the_index():
    reply = api("/-/search", "query=lint")
    assert reply.status == 200 and reply.headers["cache-control"] == "no-cache, public"
    body = reply.json
    assert "acme.linter" in _names(body) and "evil.miner" not in _names(body)
    assert body["offset"] == 0 and body["totalSize"] == len(body["extensions"])
    entry = next(e for e in body["extensions"] if e["name"] == "linter")
    assert entry["url"] == f"{BASE}/api/acme/linter" and entry["version"] == "1.1.0"
    assert entry["files"]["download"] == f"{BASE}/api/acme/linter/1.1.0/file/acme.linter-1.1.0.vsix"
    assert (entry["downloadCount"], entry["reviewCount"], entry["averageRating"]) == (100, 10, 4.5)
    assert "allVersions" not in entry


def test_search_filters_sorts_and_pages():
    everything = ok("/-/search", "size=100")
    assert sorted(_names(everything)) == ["acme.linter", "acme.themes", "beta.native", "beta.nightly",
                                          "gamma.bundle", "gamma.old", "gamma.webby"]
    by_downloads = ok("/-/search", "sortBy=downloadCount&sortOrder=desc&size=3")
    assert _names(by_downloads) == ["acme.themes", "acme.linter", "beta.native"]
    assert by_downloads["totalSize"] == 7
    ascending = ok("/-/search", "sortBy=downloadCount&sortOrder=asc&size=100")
    assert _names(ascending)[-1] == "acme.themes"
    assert _names(ok("/-/search", "category=Themes")) == ["acme.themes"]
    assert "beta.native" in _names(ok("/-/search", "targetPlatform=linux-x64&size=100"))
    second = ok("/-/search", "sortBy=downloadCount&size=2&offset=2")
    assert second["offset"] == 2 and _names(second) == _names(ok("/-/search", "sortBy=downloadCount&size=4"))[2:]
    assert ok("/-/search", "size=0")["extensions"] == []


def test_search_can_include_every_version():
    body = ok("/-/search", "query=native&includeAllVersions=true")
    entry = next(e for e in body["extensions"] if e["name"] == "native")
    assert [(r["version"], r["targetPlatform"]) for r in entry["allVersions"]] == [
        ("1.0.0", "darwin-arm64"), ("1.0.0", "linux-x64"), ("1.0.0", "win32-x64"), ("0.9.0", "universal")]
    assert entry["allVersionsUrl"] == f"{BASE}/api/beta/native/version-references"


def test_search_refuses_bad_parameters():
    assert error("/-/search", "size=-1", 400) == "The parameter 'size' must not be negative."
    assert error("/-/search", "offset=x", 400) == "The parameter 'offset' must be an integer."
    assert "sortBy" in error("/-/search", "sortBy=stars", 400)
    assert "sortOrder" in error("/-/search", "sortOrder=sideways", 400)
    assert ok("/-/search", "targetPlatform=amiga&size=1")["totalSize"] == 7  # an unknown platform is ignored


# ----------------------------------------------------------------------------------------------- query


def _versions(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f"{e['namespace']}.{e['name']}".lower(), e["version"], e["targetPlatform"]) for e in body["extensions"]]


def test_query_looks_extensions_up_exactly():
    reply = api("/-/query", "extensionId=acme.linter")
    assert reply.status == 200 and reply.headers["cache-control"] == "max-age=600, public"
    assert _versions(reply.json) == [("acme.linter", "1.1.0", "universal")]
    assert list(reply.json["extensions"][0]["allVersions"]) == ["latest", "1.1.0", "1.0.0"]
    assert "downloads" not in reply.json["extensions"][0]
    every = ok("/-/query", "namespaceName=acme&extensionName=linter&includeAllVersions=true")
    assert _versions(every) == [("acme.linter", "1.1.0", "universal"), ("acme.linter", "1.0.0", "universal")]
    assert _versions(ok("/-/query", "extensionId=acme.linter&extensionVersion=1.0.0")) == [
        ("acme.linter", "1.0.0", "universal")]
    assert _versions(ok("/-/query", f"extensionUuid={extension_uuid('acme.themes')}")) == [
        ("acme.themes", "2.1.0", "universal")]
    assert _versions(ok("/-/query", "extensionId=beta.native&targetPlatform=linux-x64")) == [
        ("beta.native", "1.0.0", "linux-x64")]
    assert ok("/-/query", "extensionId=acme.gone") == {"offset": 0, "totalSize": 0, "extensions": []}
    assert ok("/-/query", "extensionId=evil.miner")["totalSize"] == 0


def test_query_by_namespace_name_and_uuid():
    beta = ok("/-/query", "namespaceName=beta")
    assert _versions(beta) == [("beta.native", "1.0.0", "darwin-arm64"), ("beta.native", "1.0.0", "linux-x64"),
                               ("beta.native", "1.0.0", "win32-x64"), ("beta.native", "0.9.0", "universal"),
                               ("beta.nightly", "0.2.0", "universal")]
    assert beta["totalSize"] == 5
    page = ok("/-/query", "namespaceName=beta&size=2&offset=3")
    assert page["offset"] == 3 and page["totalSize"] == 5 and _versions(page) == _versions(beta)[3:5]
    by_uuid = ok("/-/query", f"namespaceUuid={publisher_uuid('gamma')}")
    assert {name for name, _, _ in _versions(by_uuid)} == {"gamma.bundle", "gamma.old", "gamma.webby"}
    by_name = ok("/-/query", "extensionName=native")
    assert {name for name, _, _ in _versions(by_name)} == {"beta.native"}


def test_query_v2_includes_version_links_only_when_asked():
    links = ok("/v2/-/query", "extensionId=acme.linter")
    assert list(links["extensions"][0]["allVersions"]) == ["latest", "1.1.0", "1.0.0"]
    assert links["extensions"][0]["url"] == f"{BASE}/api/acme/linter/1.1.0"
    bare = ok("/v2/-/query", "extensionId=acme.linter&includeAllVersions=false")
    assert "allVersions" not in bare["extensions"][0]
    every = ok("/v2/-/query", "extensionId=acme.linter&includeAllVersions=true")
    assert len(every["extensions"]) == 2 and "allVersions" not in every["extensions"][0]


def test_query_refuses_bad_parameters():
    assert error("/-/query", "extensionId=acme", 400) == (
        "The 'extensionId' parameter must have the format 'namespace.extension'.")
    assert error("/-/query", "extensionId=acme.linter&namespaceName=beta", 400) == (
        "Conflicting parameters 'extensionId' and 'namespaceName'")
    assert error("/v2/-/query", "extensionId=acme.linter&includeAllVersions=maybe", 400) == (
        "Invalid includeAllVersions value: maybe.")
    assert error("/-/query", "extensionId=acme.linter&size=-3", 400) == "The parameter 'size' must not be negative."
    assert "Name what to look up" in error("/-/query", "", 400)
    assert ok("/-/query", "extensionId=acme.linter&targetPlatform=amiga")["totalSize"] == 1
    for nothing in ("namespaceName=" + "n" * 5000, "extensionId=acme." + "x" * 3000, "extensionUuid=not-a-uuid",
                    "extensionUuid=" + "1" * 5000, "namespaceUuid=x", "extensionName=a%20b", "namespaceName=%00"):
        assert ok("/-/query", nothing)["totalSize"] == 0, nothing


def test_query_by_post_redirects_to_the_get_form():
    reply = api("/-/query", method="POST", body=json.dumps({"extensionId": "acme.linter", "includeAllVersions": True,
                                                            "size": 5, "ignored": "x", "offset": None}))
    assert reply.status == 301
    parts = urlsplit(reply.location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/api/-/query"
    assert parse_qs(parts.query) == {"extensionId": ["acme.linter"], "includeAllVersions": ["true"], "size": ["5"]}
    for bad in ("{", "[1]", json.dumps({"extensionId": ["a"]})):
        assert api("/-/query", method="POST", body=bad).status == 400


def test_the_registry_version():
    assert ok("/version") == {"version": "0.1.0"}
