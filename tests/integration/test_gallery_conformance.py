"""Conformance of the VS Code gallery protocol (docs/protocols/vscode-gallery.md, docs/protocols/code-server.md
§2-§3) end to end: API Gateway payload-v2 events into the gallery function (resolver, CORS, errors, compression),
a catalog published through the real ingest (tests/integration/gallery_catalog.py), the event stream read back
with boto3.

Covered: every filterType, flag, sortBy/sortOrder and paging case; malformed bodies; every asset route (API
fallback, vspackage, web resources, CDN keys); the latest-version route; statistics; the control manifest;
links; CORS, cache headers and gzip.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from marketplace.catalog.ids import extension_uuid
from marketplace.gallery import routes
from tests.integration.gallery_catalog import (
    BASE,
    CHANGELOG,
    DETAILS,
    ICON,
    INSTALLS,
    LICENSE,
    LINTER_CHANGELOG,
    LINTER_LICENSE,
    LINTER_README,
    LIVE,
    MANIFEST,
    PACKAGE,
    SERVICE,
    TARGET,
    VISIBLE,
    VSIXMANIFEST,
    Events,
    Reply,
    c,
    call,
    gallery_catalog,
    ids,
    query,
    results,
    versions_of,
)

__all__ = ["gallery_catalog"]  # the module-scoped fixture, imported to be found

pytestmark = pytest.mark.usefixtures("gallery_catalog")

ENGINE = "Microsoft.VisualStudio.Code.Engine"
PRE_RELEASE = "Microsoft.VisualStudio.Code.PreRelease"
WEB_EXTENSION = "Microsoft.VisualStudio.Code.WebExtension"
DEPENDENCIES = "Microsoft.VisualStudio.Code.ExtensionDependencies"
PACK = "Microsoft.VisualStudio.Code.ExtensionPack"
KIND = "Microsoft.VisualStudio.Code.ExtensionKind"
EXCLUDE_UNPUBLISHED = c(12, "4096")
VS_CODE = c(8, TARGET)


def by_name(name: str, flags: int = 950, **kwargs: Any) -> dict[str, Any]:
    """The one extension a VS Code install query for ``name`` returns (docs/protocols/code-server.md §2)."""
    extensions, total = results(query(c(7, name), VS_CODE, EXCLUDE_UNPUBLISHED, flags=flags, page_size=1,
                                      sort_by=0, **kwargs))
    assert total == 1 and len(extensions) == 1, extensions
    return extensions[0]


def props(version: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in version["properties"]}


def stats(extension: dict[str, Any]) -> dict[str, float]:
    return {s["statisticName"]: s["value"] for s in extension["statistics"]}


def error(reply: Reply, status: int) -> str:
    assert reply.status == status, (reply.status, reply.raw)
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


# ============================================================================ lookups by name and by UUID


def test_the_install_query_vscode_sends_returns_the_latest_version_with_everything_the_client_reads():
    extension = by_name("acme.linter")
    assert extension["extensionName"] == "linter" and extension["publisher"]["publisherName"] == "acme"
    assert extension["extensionId"] == extension_uuid("acme.linter")
    assert extension["displayName"] == "Acme Linter" and extension["shortDescription"] == "Finds lint in python code"
    assert isinstance(extension["flags"], str) and "preview" not in extension["flags"]
    assert extension["categories"] == ["Linters"] and extension["tags"] == ["lint", "python"]
    assert stats(extension)["install"] == INSTALLS["acme.linter"]
    assert stats(extension)["averagerating"] == 4.5 and stats(extension)["ratingcount"] == 10
    (version,) = extension["versions"]
    assert version["version"] == "1.1.0" and "targetPlatform" not in version
    assert props(version)[ENGINE] == "^1.80.0" and PRE_RELEASE not in props(version)
    listed = {f["assetType"] for f in version["files"]}
    assert listed == {PACKAGE, MANIFEST, DETAILS, CHANGELOG, LICENSE, ICON, VSIXMANIFEST}
    assert version["assetUri"].startswith(f"{BASE}/assets/acme/linter/1.1.0/universal/")
    assert version["fallbackAssetUri"] == f"{SERVICE}/assets/acme/linter/1.1.0"
    assert all(f["source"] == f"{version['assetUri']}/{f['assetType']}" for f in version["files"])


def test_names_are_case_insensitive_and_several_names_are_or_ed_in_the_order_asked():
    assert by_name("ACME.Linter")["extensionName"] == "linter"
    assert by_name("Beta.Nightly")["extensionName"] == "nightly"
    extensions, total = results(query(c(7, "gamma.webby"), c(7, "no.such"), c(7, "acme.linter"), VS_CODE,
                                      EXCLUDE_UNPUBLISHED, page_size=3))
    assert ids(extensions) == ["gamma.webby", "acme.linter"] and total == 2


def test_an_unknown_name_is_an_empty_result_with_a_total_count():
    extensions, total = results(query(c(7, "no.such"), VS_CODE, EXCLUDE_UNPUBLISHED, page_size=1))
    assert extensions == [] and total == 0


def test_extension_ids_from_a_previous_response_find_the_same_extensions():
    first = [by_name(name) for name in ("acme.themes", "beta.native")]
    uuids = [e["extensionId"] for e in first]
    extensions, total = results(query(*[c(4, u) for u in uuids], c(4, "00000000-0000-0000-0000-000000000000"),
                                      VS_CODE, EXCLUDE_UNPUBLISHED, flags=439, page_size=3))
    assert sorted(ids(extensions)) == ["acme.themes", "beta.native"] and total == 2  # any order
    assert sorted(e["extensionId"] for e in extensions) == sorted(uuids)
    upper, _ = results(query(c(4, uuids[0].upper()), flags=0))
    assert ids(upper) == ["acme.themes"]


def test_criteria_of_other_types_narrow_a_lookup():
    both = [c(7, "acme.linter"), c(7, "acme.themes")]
    assert ids(results(query(*both, c(1, "lint")))[0]) == ["acme.linter"]
    assert ids(results(query(*both, c(1, "LINT"), c(1, "dark")))[0]) == ["acme.linter", "acme.themes"]
    assert ids(results(query(*both, c(5, "themes")))[0]) == ["acme.themes"]
    assert ids(results(query(*both, c(9)))[0]) == ["acme.linter"]
    assert ids(results(query(*both, c(10, "colour")))[0]) == ["acme.themes"]
    assert ids(results(query(*both, c(1, "lint"), c(5, "Themes")))[0]) == []  # types are AND-ed
    assert results(query(*both, c(8, "Microsoft.VisualStudio.Services"))) == ([], 0)
    assert ids(results(query(*both, VS_CODE, EXCLUDE_UNPUBLISHED))[0]) == ["acme.linter", "acme.themes"]


def test_lookups_can_be_sorted_and_paged():
    names = [c(7, n) for n in ("gamma.bundle", "acme.linter", "acme.themes", "beta.native")]
    assert ids(results(query(*names, sort_by=4, flags=0))[0]) == [
        "acme.themes", "acme.linter", "beta.native", "gamma.bundle"]
    assert ids(results(query(*names, sort_by=4, sort_order=1, flags=0))[0]) == [
        "gamma.bundle", "beta.native", "acme.linter", "acme.themes"]
    page, total = results(query(*names, sort_by=2, page_size=2, page_number=2, flags=0))
    assert ids(page) == ["gamma.bundle", "beta.native"] and total == 4  # titles: Acme L, Acme T, Gamma B, Native B
    assert results(query(*names, page_size=2, page_number=3, flags=0)) == ([], 4)


def test_unpublished_and_blocked_extensions_are_never_found():
    for name in ("acme.gone", "evil.miner"):
        assert results(query(c(7, name), flags=439)) == ([], 0)
        assert results(query(c(4, extension_uuid(name)), flags=439)) == ([], 0)
    every = results(query(*[c(7, n) for n in ("acme.linter", "acme.gone", "evil.miner")], flags=439))[0]
    assert ids(every) == ["acme.linter"]
    assert versions_of(every[0]) == LIVE["acme.linter"]  # 1.2.0 was unpublished


# ============================================================================================== versions


def test_release_with_a_newer_pre_release():
    latest = by_name("acme.themes")
    assert versions_of(latest) == [("2.1.0", "universal")]  # IncludeLatestVersionOnly: the newest, pre or not
    assert props(latest["versions"][0])[PRE_RELEASE] == "true"
    every = by_name("acme.themes", flags=439)
    assert versions_of(every) == LIVE["acme.themes"]
    assert PRE_RELEASE not in props(every["versions"][1])
    head = by_name("acme.themes", flags=0x10000 | 0x10)
    assert versions_of(head) == [("2.1.0", "universal"), ("2.0.0", "universal")]
    assert "preview" not in latest["flags"]


def test_a_pre_release_only_extension_is_preview_and_lists_pre_releases():
    nightly = by_name("beta.nightly", flags=439)
    assert "preview" in nightly["flags"].split(", ")
    assert versions_of(nightly) == LIVE["beta.nightly"]
    assert all(props(v)[PRE_RELEASE] == "true" for v in nightly["versions"])
    assert versions_of(by_name("beta.nightly")) == [("0.2.0", "universal")]


def test_a_multi_platform_extension_lists_one_version_per_platform():
    latest = by_name("beta.native")
    assert versions_of(latest) == LIVE["beta.native"]  # the newest of each platform, universal 0.9.0 included
    every = by_name("beta.native", flags=439)
    assert versions_of(every) == LIVE["beta.native"]
    fallbacks = {v["fallbackAssetUri"] for v in every["versions"] if v["version"] == "1.0.0"}
    assert fallbacks == {f"{SERVICE}/assets/beta/native/1.0.0"}  # the client adds ?targetPlatform=
    asset_uris = {v["targetPlatform"]: v["assetUri"] for v in every["versions"] if v["version"] == "1.0.0"}
    assert all(f"/1.0.0/{platform}/" in uri for platform, uri in asset_uris.items())
    only_latest = by_name("beta.native", flags=0x200)
    assert versions_of(only_latest) == LIVE["beta.native"]
    head = by_name("beta.native", flags=0x10000)
    assert versions_of(head) == LIVE["beta.native"]


def test_a_web_extension_carries_the_web_tag_and_property():
    webby = by_name("gamma.webby")
    assert "__web_extension" in webby["tags"] and "web" in webby["tags"]
    (version,) = webby["versions"]
    assert props(version)[WEB_EXTENSION] == "true" and "web" in props(version)[KIND].split(",")
    listed = {f["assetType"] for f in version["files"]}
    assert "Microsoft.VisualStudio.Code.WebResources" not in listed and MANIFEST in listed
    linter = by_name("acme.linter")
    assert WEB_EXTENSION not in props(linter["versions"][0]) and "__web_extension" not in linter["tags"]


def test_dependencies_and_extension_pack_are_properties():
    (version,) = by_name("gamma.bundle")["versions"]
    assert props(version)[DEPENDENCIES] == "acme.linter"
    assert props(version)[PACK] == "acme.themes,beta.native"
    assert props(by_name("acme.linter")["versions"][0])[DEPENDENCIES] == ""


# ================================================================================================= flags


def test_flags_zero_returns_the_bare_extension_without_versions():
    bare = by_name("acme.linter", flags=0)
    assert bare["versions"] == [] and isinstance(bare["flags"], str)
    for absent in ("categories", "tags", "statistics", "installationTargets"):
        assert absent not in bare


@pytest.mark.parametrize(("flags", "present", "absent"), [
    (0x2, {"files"}, {"properties", "assetUri", "fallbackAssetUri"}),
    (0x10, {"properties"}, {"files", "assetUri"}),
    (0x80, {"assetUri", "fallbackAssetUri"}, {"files", "properties"}),
    (0x1, set(), {"files", "properties", "assetUri"}),
])
def test_each_version_flag_adds_its_field(flags, present, absent):
    extension = by_name("acme.linter", flags=flags)
    assert extension["versions"], "a version to hang the fields on"
    for version in extension["versions"]:
        assert present <= set(version) and not absent & set(version)
        assert version["version"] and version["lastUpdated"]


def test_categories_tags_statistics_and_installation_targets_follow_their_flags():
    assert {"categories", "tags"} <= set(by_name("acme.linter", flags=0x4))
    assert "statistics" not in by_name("acme.linter", flags=0x4)
    with_stats = by_name("acme.themes", flags=0x100)
    assert stats(with_stats)["install"] == 200 and stats(with_stats)["downloadCount"] == 400
    assert stats(with_stats)["averagerating"] == 3.0 and "categories" not in with_stats
    unrated = stats(by_name("beta.native", flags=0x100))
    assert unrated["install"] == 10 and "averagerating" not in unrated
    assert stats(by_name("gamma.old", flags=0x100))["install"] == 0  # no totals yet
    assert by_name("acme.linter", flags=0x40)["installationTargets"] == [{"target": TARGET, "targetVersion": ""}]


def test_include_versions_lists_every_version_newest_first():
    assert versions_of(by_name("acme.linter", flags=0x1)) == LIVE["acme.linter"]
    assert versions_of(by_name("acme.linter", flags=0x1 | 0x200)) == LIVE["acme.linter"]
    assert versions_of(by_name("acme.linter", flags=0x200)) == [("1.1.0", "universal")]


def test_the_flags_vsce_sends():
    show = by_name("acme.themes", flags=2325)  # vsce show: every version with properties and statistics
    assert versions_of(show) == LIVE["acme.themes"]
    assert all("properties" in v and "files" not in v and "assetUri" not in v for v in show["versions"])
    assert "statistics" in show and "tags" in show
    extensions, total = results(query(c(7, "acme.themes"), flags=544))  # vsce search: latest only
    assert versions_of(extensions[0]) == [("2.1.0", "universal")] and total == 1
    assert set(extensions[0]["versions"][0]) == {"version", "flags", "lastUpdated"}


def test_every_extension_has_a_string_flags_and_the_fields_vscode_indexes():
    extensions, total = results(query(*[c(7, n) for n in VISIBLE], flags=950, page_size=len(VISIBLE)))
    assert sorted(ids(extensions)) == VISIBLE and total == len(VISIBLE)
    for extension in extensions:
        assert isinstance(extension["flags"], str)
        assert extension["publisher"]["publisherId"] and extension["extensionId"]
        for version in extension["versions"]:
            assert version["assetUri"] and version["fallbackAssetUri"] and ENGINE in props(version)


# ================================================================================================ assets


def _path(url: str) -> str:
    assert url.startswith(SERVICE), url
    return url[len(SERVICE):]


def _get(url: str, query: str = "", headers: dict[str, str] | None = None) -> Reply:
    return call("GET", _path(url), query=query, headers=headers)


def test_every_listed_asset_exists_behind_the_cdn(gallery_catalog):
    s3 = boto3.client("s3")
    bucket = gallery_catalog.env["PACKAGES_BUCKET"]
    extensions, _ = results(query(*[c(7, n) for n in VISIBLE], flags=439, page_size=len(VISIBLE)))
    checked = 0
    for extension in extensions:
        for version in extension["versions"]:
            assert version["assetUri"].startswith(f"{BASE}/assets/")
            for listed in version["files"]:
                key = f"{version['assetUri'].removeprefix(BASE + '/')}/{listed['assetType']}"
                assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
                checked += 1
    assert checked > 40


def test_the_vsix_through_the_api_redirects_to_the_cdn_and_counts_the_fetch(gallery_catalog):
    (version,) = by_name("acme.linter")["versions"]
    events = Events(gallery_catalog)
    for extra, kind in (("&install=true", "install"), ("&update=true", "update"), ("", "download")):
        reply = _get(f"{version['fallbackAssetUri']}/{PACKAGE}", query=f"redirect=true{extra}",
                     headers={"x-market-client-id": "VSCode 1.100.3"})
        assert reply.status == 302 and reply.location == f"{version['assetUri']}/{PACKAGE}"
        assert reply.headers["cache-control"] == "no-store"
        (event,) = events.read()
        assert (event["type"], event["extension"], event["version"], event["target_platform"]) == (
            kind, "acme.linter", "1.1.0", "universal")
        assert event["client"] == "VSCode 1.100.3" and event["id"] and event["at"]
    plain = _get(f"{version['fallbackAssetUri']}/{PACKAGE}")  # no query at all
    assert plain.status == 302 and [e["type"] for e in events.read()] == ["download"]


@pytest.mark.parametrize(("asset", "content_type", "expected"), [
    (MANIFEST, "application/json", None),
    (DETAILS, "text/markdown", LINTER_README),
    (CHANGELOG, "text/markdown", LINTER_CHANGELOG),
    (LICENSE, "text/plain", LINTER_LICENSE),
    (VSIXMANIFEST, "xml", None),
    (ICON, "image/png", None),
])
def test_each_asset_through_the_api(asset, content_type, expected):
    (version,) = by_name("acme.linter")["versions"]
    for query_string in ("", "redirect=true", "redirect=true&install=true"):  # redirect is for packages only
        reply = _get(f"{version['fallbackAssetUri']}/{asset}", query=query_string)
        assert reply.status == 200, reply.raw
        assert content_type in reply.headers["content-type"]
        assert reply.headers["cache-control"] == "public, max-age=3600"
        # served from the website's origin: opened as a document it runs nothing (as from the CDN)
        assert "sandbox" in reply.headers["content-security-policy"].split("; ")
        if expected is not None:
            assert reply.text == expected
    if asset == MANIFEST:
        assert json.loads(reply.raw)["version"] == "1.1.0"
    if asset == ICON:
        assert reply.raw.startswith(b"\x89PNG")
    if asset == VSIXMANIFEST:
        assert b'Version="1.1.0"' in reply.raw


def test_the_latest_version_alias_and_older_versions_are_served():
    assert json.loads(call("GET", f"/assets/acme/linter/latest/{MANIFEST}").raw)["version"] == "1.1.0"
    assert json.loads(call("GET", f"/assets/acme/linter/1.0.0/{MANIFEST}").raw)["version"] == "1.0.0"
    assert json.loads(call("GET", f"/assets/ACME/Linter/1.0.0/{MANIFEST}").raw)["version"] == "1.0.0"


def test_target_platform_selects_the_build(gallery_catalog):
    for platform in ("linux-x64", "win32-x64", "darwin-arm64"):
        reply = call("GET", f"/assets/beta/native/1.0.0/{VSIXMANIFEST}", query=f"targetPlatform={platform}")
        assert reply.status == 200 and f'TargetPlatform="{platform}"'.encode() in reply.raw
    events = Events(gallery_catalog)
    reply = call("GET", f"/assets/beta/native/1.0.0/{PACKAGE}", query="redirect=true&targetPlatform=win32-x64")
    assert reply.status == 302 and "/beta/native/1.0.0/win32-x64/" in reply.location
    assert [(e["type"], e["target_platform"]) for e in events.read()] == [("download", "win32-x64")]
    universal = call("GET", f"/assets/beta/native/0.9.0/{MANIFEST}", query="targetPlatform=linux-x64")
    assert universal.status == 200  # a universal build serves every platform
    assert call("GET", f"/assets/beta/native/0.9.0/{MANIFEST}").status == 200
    assert call("GET", f"/assets/acme/linter/1.1.0/{MANIFEST}", query="targetPlatform=undefined").status == 200


def test_a_platform_build_must_be_named_and_must_exist():
    assert "targetPlatform" in error(call("GET", f"/assets/beta/native/1.0.0/{MANIFEST}"), 400)
    assert "targetPlatform" in error(call("GET", f"/assets/beta/native/1.0.0/{PACKAGE}", query="install=true"), 400)
    assert "linux-arm64" in error(call("GET", f"/assets/beta/native/1.0.0/{MANIFEST}",
                                       query="targetPlatform=linux-arm64"), 404)
    assert "solaris" in error(call("GET", f"/assets/beta/native/1.0.0/{MANIFEST}",
                                   query="targetPlatform=solaris-sparc"), 400)


def test_vspackage_redirects_to_the_package(gallery_catalog):
    events = Events(gallery_catalog)
    reply = call("GET", "/publishers/acme/vsextensions/linter/1.1.0/vspackage")
    assert reply.status == 302 and reply.location.startswith(f"{BASE}/assets/acme/linter/1.1.0/universal/")
    assert reply.location.endswith(f"/{PACKAGE}")
    native = call("GET", "/publishers/beta/vsextensions/native/1.0.0/vspackage", query="targetPlatform=linux-x64")
    assert native.status == 302 and "/1.0.0/linux-x64/" in native.location
    assert [(e["extension"], e["target_platform"], e["type"]) for e in events.read()] == [
        ("acme.linter", "universal", "download"), ("beta.native", "linux-x64", "download")]
    assert "targetPlatform" in error(call("GET", "/publishers/beta/vsextensions/native/1.0.0/vspackage"), 400)
    error(call("GET", "/publishers/acme/vsextensions/linter/9.9.9/vspackage"), 404)
    error(call("GET", "/publishers/acme/vsextensions/gone/1.0.0/vspackage"), 404)


def test_web_resources_through_the_resource_url_template():
    package = call("GET", "/resources/gamma/webby/1.0.0/extension/package.json")
    assert package.status == 200 and json.loads(package.raw)["name"] == "webby"
    assert "json" in package.headers["content-type"]
    script = call("GET", "/resources/gamma/webby/1.0.0/extension/dist/web/extension.js")
    assert script.status == 200 and b"activate" in script.raw
    assert call("GET", "/resources/gamma/webby/1.0.0/extension/readme.md").text == "# Webby\n\nRuns in the browser.\n"
    via_asset = call("GET", "/assets/gamma/webby/1.0.0/Microsoft.VisualStudio.Code.WebResources/extension/package.json")
    assert via_asset.status == 200 and via_asset.raw == package.raw
    error(call("GET", "/resources/gamma/webby/1.0.0/extension/missing.js"), 404)
    error(call("GET", "/resources/acme/linter/1.1.0/extension/package.json"), 404)  # not a web extension


def test_web_resources_of_a_platform_build_use_version_plus_platform():
    for platform in ("linux-x64", "win32-x64", "darwin-arm64"):
        reply = call("GET", f"/resources/beta/native/1.0.0+{platform}/extension/platform.txt")
        assert reply.status == 200 and reply.text == platform
        encoded = call("GET", f"/resources/beta/native/1.0.0%2B{platform}/extension/platform.txt")
        assert encoded.status == 200 and encoded.text == platform
    assert call("GET", "/resources/beta/native/0.9.0/extension/platform.txt").text == "universal"
    assert call("GET", "/resources/beta/native/1.0.0/extension/platform.txt").status == 400
    error(call("GET", "/resources/beta/native/1.0.0+linux-arm64/extension/platform.txt"), 404)


@pytest.mark.parametrize("path", [
    "/resources/gamma/webby/1.0.0/extension/../../../../private/x",
    "/resources/gamma/webby/1.0.0/extension/%2e%2e/%2e%2e/Microsoft.VisualStudio.Services.VSIXPackage",
    "/resources/gamma/webby/1.0.0/extension/..%2F..%2FMicrosoft.VisualStudio.Code.Manifest",
    "/resources/gamma/webby/1.0.0/../package.json",
    "/resources/gamma/webby/1.0.0/extension//package.json",
    "/resources/gamma/webby/1.0.0/extension/.%2Fpackage.json",
    "/resources/gamma/webby/1.0.0/extension%5C..%5C..%5Cx",
    "/resources/gamma/webby/1.0.0/extension/package.json%00.js",
    "/assets/gamma/webby/1.0.0/..%2F..%2F..%2Fprivate",
    "/assets/gamma/webby/1.0.0/%2e%2e",
    "/assets/gamma/webby/1.0.0/Microsoft.VisualStudio.Code.WebResources/extension/../../Microsoft.VisualStudio.Code.Manifest",
    "/assets/..%2F..%2Fprivate/webby/1.0.0/Microsoft.VisualStudio.Code.Manifest",
    "/assets/gamma/..%2Facme/1.0.0/Microsoft.VisualStudio.Code.Manifest",
])
def test_path_traversal_is_not_found(path):
    assert error(call("GET", path), 404)


def test_unknown_or_unlisted_assets_are_json_404s():
    for asset in ("Microsoft.VisualStudio.Services.Unknown", "Microsoft.VisualStudio.Code.WebResources",
                  "Microsoft.VisualStudio.Services.VsixSignature", "Marketplace.RepositorySignature"):
        assert asset in error(call("GET", f"/assets/acme/linter/1.1.0/{asset}"), 404)
    error(call("GET", f"/assets/gamma/webby/1.0.0/{CHANGELOG.replace('Changelog', 'Nothing')}"), 404)
    error(call("GET", f"/assets/acme/linter/1.2.0/{MANIFEST}"), 404)  # unpublished version
    error(call("GET", f"/assets/acme/linter/9.0.0/{MANIFEST}"), 404)
    error(call("GET", f"/assets/acme/gone/1.0.0/{MANIFEST}"), 404)
    error(call("GET", f"/assets/evil/miner/1.0.0/{PACKAGE}"), 404)
    error(call("GET", f"/assets/no/such/1.0.0/{MANIFEST}"), 404)
    error(call("GET", f"/assets/not_an.id!/x/1.0.0/{MANIFEST}"), 404)


def test_the_signature_is_listed_and_served_only_when_the_operator_asks(gallery_catalog, monkeypatch):
    signature = "Microsoft.VisualStudio.Services.VsixSignature"
    monkeypatch.delenv("GALLERY_ADVERTISE_VSIX_SIGNATURE", raising=False)
    assert signature not in {f["assetType"] for f in by_name("acme.linter")["versions"][0]["files"]}
    error(call("GET", f"/assets/acme/linter/1.1.0/{signature}"), 404)
    # for code-server's web UI (docs/protocols/code-server.md §4)
    monkeypatch.setenv("GALLERY_ADVERTISE_VSIX_SIGNATURE", "true")
    (version,) = by_name("acme.linter")["versions"]
    (listed,) = [f for f in version["files"] if f["assetType"] == signature]
    assert listed["source"] == f"{version['assetUri']}/{signature}"
    key = listed["source"].removeprefix(BASE + "/")  # the CDN serves it (docs/protocols/vscode-gallery.md A5.1)
    body = boto3.client("s3").get_object(Bucket=gallery_catalog.env["PACKAGES_BUCKET"], Key=key)["Body"].read()
    assert body.startswith(b"PK")
    reply = _get(f"{version['fallbackAssetUri']}/{signature}")
    assert reply.status == 200 and reply.headers["content-type"] == "application/zip"
    assert reply.raw.startswith(b"PK")
    (hit,) = results(query(c(10, "python"), VS_CODE))[0]
    assert signature in {f["assetType"] for f in hit["versions"][0]["files"]}  # search results too


def test_a_broken_event_stream_never_costs_the_download(gallery_catalog, monkeypatch):
    from marketplace.platform import aws

    def broken(**_kwargs: Any) -> None:
        raise RuntimeError("stream down")

    monkeypatch.setattr(aws.client("kinesis"), "put_record", broken)
    reply = call("GET", f"/assets/acme/linter/1.1.0/{PACKAGE}", query="redirect=true&install=true")
    assert reply.status == 302 and reply.location.endswith(f"/{PACKAGE}")
    stat = call("POST", "/publishers/acme/extensions/linter/1.1.0/stats", query="statType=uninstall")
    assert stat.status == 200


# ============================================================================================ statistics


def test_install_and_uninstall_statistics_are_put_on_the_stream(gallery_catalog):
    events = Events(gallery_catalog)
    for stat_type in ("install", "uninstall"):
        reply = call("POST", "/publishers/acme/extensions/linter/1.1.0/stats", query=f"statType={stat_type}",
                     headers={"accept": "*/*;api-version=4.0-preview.1"})
        assert reply.status == 200 and reply.json["statType"] == stat_type
    for number in ("1", "3"):
        reply = call("POST", f"/itemName/gamma.webby/version/1.0.0/statType/{number}/vscodewebextension",
                     headers={"accept": "api-version=6.1-preview.1"})
        assert reply.status == 200
    assert [(e["type"], e["extension"], e["version"]) for e in events.read()] == [
        ("install", "acme.linter", "1.1.0"), ("uninstall", "acme.linter", "1.1.0"),
        ("install", "gamma.webby", "1.0.0"), ("uninstall", "gamma.webby", "1.0.0")]


def test_bad_statistics_requests(gallery_catalog):
    events = Events(gallery_catalog)
    assert "statType" in error(call("POST", "/publishers/acme/extensions/linter/1.1.0/stats",
                                    query="statType=rate"), 400)
    error(call("POST", "/publishers/acme/extensions/linter/1.1.0/stats"), 400)
    error(call("POST", "/itemName/gamma.webby/version/1.0.0/statType/2/vscodewebextension"), 400)
    error(call("POST", "/itemName/gammawebby/version/1.0.0/statType/1/vscodewebextension"), 400)
    for name in ("no/such", "acme/gone", "evil/miner"):
        error(call("POST", f"/publishers/{name.replace('/', '/extensions/', 1)}/1.0.0/stats",
                   query="statType=install"), 404)
    assert events.read() == []


# ==================================================================================== the latest version


def test_the_latest_route_returns_one_raw_extension():
    reply = call("GET", "/vscode/acme/themes/latest", headers={"accept": "application/json;api-version=7.2-preview"})
    assert reply.status == 200 and reply.headers["cache-control"] == "public, max-age=60"
    themes = reply.json
    assert themes["extensionName"] == "themes" and isinstance(themes["flags"], str)
    assert versions_of(themes) == [("2.1.0", "universal"), ("2.0.0", "universal")]  # newest pre and release
    for version in themes["versions"]:
        assert version["files"] and ENGINE in props(version) and version["assetUri"] and version["fallbackAssetUri"]
    assert themes["statistics"] and themes["tags"] == ["dark", "theme"]
    native = call("GET", "/vscode/Beta/Native/latest").json
    assert versions_of(native) == LIVE["beta.native"]


def test_the_latest_route_is_a_json_404_for_what_is_not_offered():
    for name in ("no/such", "acme/gone", "evil/miner"):
        assert name.split("/")[1] in error(call("GET", f"/vscode/{name}/latest"), 404)
    for name in ("acme%20x/linter", "acme.linter/x", "acme/" + "%E2%82%AC" * 900):
        error(call("GET", f"/vscode/{name}/latest"), 404)  # cannot be an id: not looked up


# =============================================================================== control manifest, links


def test_the_control_manifest(monkeypatch):
    monkeypatch.setattr(routes, "_control_cache", None)
    reply = call("GET", "/control.json")
    assert reply.status == 200 and reply.headers["cache-control"] == "public, max-age=300"
    manifest = reply.json
    assert manifest["malicious"] == ["evil.miner"]
    assert manifest["deprecated"] == {
        "acme.gone": {"disallowInstall": True, "additionalInfo": "This extension was unpublished by its publisher."},
        "gamma.old": {"disallowInstall": False, "extension": {"id": "gamma.bundle", "displayName": "Gamma Bundle"},
                      "additionalInfo": "Use Gamma Bundle instead."},
    }
    assert manifest["migrateToPreRelease"] == {} and manifest["search"] == []


def test_a_deprecated_extension_is_still_installable():
    old = by_name("gamma.old", flags=439)
    assert versions_of(old) == LIVE["gamma.old"]


def test_item_and_publisher_links_redirect_to_the_website():
    item = call("GET", "/items", query="itemName=acme.linter")
    assert item.status == 301 and item.location == f"{BASE}/items?itemName=acme.linter"
    assert "itemName" in error(call("GET", "/items", query="itemName=acmelinter"), 400)
    error(call("GET", "/items"), 400)
    publisher = call("GET", "/publishers/acme")
    assert publisher.status == 301 and publisher.location == f"{BASE}/publishers/acme"


def test_unknown_routes_are_json_404s():
    assert "No route" in error(call("GET", "/nothing/here"), 404)
    assert "No route" in error(call("GET", "/extensionquery"), 404)


# ================================================================================= CORS, caching, gzip


def test_cors_preflight_from_a_browser_workbench_is_allowed():
    origin = "https://code.example.test"
    reply = call("OPTIONS", "/extensionquery", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-market-client-id"})
    assert reply.status in (200, 204)
    assert reply.headers["access-control-allow-origin"] in ("*", origin)
    allowed = {h.strip().lower() for h in reply.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-market-client-id", "x-market-user-id", "vscode-sessionid"} <= allowed
    answer = query(c(7, "acme.linter"), headers={"origin": origin, "x-market-client-id": "VSCode 1.100.3"})
    assert answer.status == 200 and answer.headers["access-control-allow-origin"] in ("*", origin)
    asset = call("GET", f"/assets/acme/linter/1.1.0/{MANIFEST}", headers={"origin": origin})
    assert asset.headers["access-control-allow-origin"] in ("*", origin)


def test_extensionquery_is_gzipped_when_asked_and_carries_an_activity_id():
    plain = query(c(7, "acme.linter"), VS_CODE)
    assert plain.encoding is None and plain.headers["activityid"]
    zipped = query(c(7, "acme.linter"), VS_CODE, headers={"accept-encoding": "gzip"})
    assert zipped.encoding == "gzip" and zipped.status == 200
    assert zipped.json == plain.json
    latest = call("GET", "/vscode/acme/linter/latest", headers={"accept-encoding": "gzip"})
    assert latest.encoding == "gzip" and latest.json["extensionName"] == "linter"


# ======================================================================== search and browse (the index)


def browse(*criteria: dict[str, Any], **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """A query the way VS Code's Extensions view sends it: Target and ExcludeWithFlags always added."""
    return results(query(*criteria, VS_CODE, EXCLUDE_UNPUBLISHED, **kwargs))


def test_browsing_lists_every_offered_extension_most_installed_first():
    extensions, total = browse(sort_by=4)
    assert total == len(VISIBLE) and sorted(ids(extensions)) == VISIBLE
    assert ids(extensions)[:5] == ["acme.themes", "acme.linter", "beta.native", "gamma.webby", "gamma.bundle"]
    for extension in extensions:
        assert isinstance(extension["flags"], str) and extension["versions"]
        assert versions_of(extension) == [v for v in LIVE[ids([extension])[0]]
                                          if v in versions_of(extension)]  # only live versions, newest first


@pytest.mark.parametrize(("text", "expected"), [
    ("python", ["acme.linter"]),
    ("browser", ["gamma.webby"]),
    ("nightly", ["beta.nightly"]),
    ("Colour Themes", ["acme.themes"]),
    ("coins", []),  # only the blocked extension says so
    ("withdrawn", []),  # only the unpublished one
    ("zzzzzz", []),
])
def test_search_text(text, expected):
    extensions, total = browse(c(10, text), sort_by=0)
    assert ids(extensions) == expected and total == len(expected)


def test_search_text_finds_several_and_never_the_hidden_ones():
    found = ids(browse(c(10, "acme"))[0])
    assert set(found) == {"acme.linter", "acme.themes"}
    assert "evil.miner" not in ids(browse(c(10, "lint"))[0]) and "acme.linter" in ids(browse(c(10, "lint"))[0])


def test_tags_are_or_ed():
    assert ids(browse(c(1, "lint"))[0]) == ["acme.linter"]  # evil.miner has the tag too, but is blocked
    assert set(ids(browse(c(1, "lint"), c(1, "dark"))[0])) == {"acme.linter", "acme.themes"}
    assert set(ids(browse(c(1, "__web_extension"))[0])) == {"gamma.webby", "beta.native"}
    assert browse(c(1, "no-such-tag")) == ([], 0)


def test_categories_are_or_ed_and_types_are_and_ed():
    assert ids(browse(c(5, "Themes"))[0]) == ["acme.themes"]
    assert set(ids(browse(c(5, "Themes"), c(5, "Linters"))[0])) == {"acme.linter", "acme.themes"}
    assert browse(c(5, "Linters"), c(1, "dark")) == ([], 0)
    assert ids(browse(c(5, "Linters"), c(1, "lint"), c(10, "python"))[0]) == ["acme.linter"]
    assert ids(browse(c(5, "Extension Packs"))[0]) == ["gamma.bundle"]


def test_featured():
    assert ids(browse(c(9))[0]) == ["acme.linter"]
    assert ids(browse(c(9), c(10, "python"))[0]) == ["acme.linter"]
    assert browse(c(9), c(5, "Themes")) == ([], 0)


def test_a_target_other_than_vscode_matches_nothing():
    assert results(query(c(8, "Microsoft.VisualStudio.Services"), sort_by=4)) == ([], 0)
    assert results(query(c(8, "Microsoft.VisualStudio.Services"), c(10, "python"))) == ([], 0)
    assert results(query(sort_by=4))[1] == len(VISIBLE)  # no Target at all: VS Code's


def test_exclude_with_flags_changes_nothing_visible():
    assert sorted(ids(results(query(c(12, "4096"), sort_by=4))[0])) == VISIBLE
    assert sorted(ids(results(query(c(12, "37888"), sort_by=4))[0])) == VISIBLE  # what vsce search sends


SORT_KEYS: dict[int, Callable[[dict[str, Any]], Any]] = {
    1: lambda e: e["lastUpdated"],
    2: lambda e: e["displayName"].lower(),
    3: lambda e: e["publisher"]["publisherName"].lower(),
    4: lambda e: stats(e)["install"],
    5: lambda e: e["publishedDate"],
    6: lambda e: stats(e).get("averagerating", 0),
    10: lambda e: e["publishedDate"],
    12: lambda e: stats(e).get("weightedRating", 0),
}


@pytest.mark.parametrize("sort_by", [1, 2, 3, 4, 5, 6, 10, 12])
@pytest.mark.parametrize("sort_order", [0, 1, 2])
def test_every_sort_orders_the_whole_catalog(sort_by, sort_order):
    extensions, total = browse(sort_by=sort_by, sort_order=sort_order)
    assert total == len(VISIBLE) and sorted(ids(extensions)) == VISIBLE
    keys = [SORT_KEYS[sort_by](e) for e in extensions]
    descending = sort_order == 2 or (sort_order == 0 and sort_by not in (2, 3))
    assert keys == sorted(keys, reverse=descending), keys


def test_sorts_put_the_known_leaders_first():
    assert ids(browse(sort_by=6)[0])[:3] == ["gamma.webby", "acme.linter", "acme.themes"]  # 5.0, 4.5, 3.0
    assert ids(browse(sort_by=12)[0])[0] == "acme.linter"  # ten 4.5 ratings beat one 5.0
    assert ids(browse(sort_by=2)[0])[:2] == ["acme.linter", "acme.themes"]  # "Acme Linter", "Acme Themes"
    assert ids(browse(sort_by=2, sort_order=2)[0])[0] == "gamma.webby"  # "Webby"
    newest = ids(browse(sort_by=10)[0])
    assert newest.index("gamma.old") < newest.index("gamma.bundle") < newest.index("acme.linter")
    assert ids(browse(sort_by=5)[0]) == newest  # older clients' number for the same sort


def test_relevance_is_the_default_with_search_text():
    extensions, total = browse(c(10, "acme"))
    assert total == 2 and ids(extensions) == ids(browse(c(10, "acme"), sort_by=0)[0])


def test_paging_covers_the_catalog_once():
    seen: list[str] = []
    for page in (1, 2, 3):
        extensions, total = browse(sort_by=4, page_size=3, page_number=page)
        assert total == len(VISIBLE) and len(extensions) == (3 if page < 3 else 1)
        seen += ids(extensions)
    assert sorted(seen) == VISIBLE and seen == ids(browse(sort_by=4)[0])
    assert browse(sort_by=4, page_size=3, page_number=4) == ([], len(VISIBLE))  # past the end
    assert browse(sort_by=4, page_size=500)[1] == len(VISIBLE)
    assert len(browse(sort_by=4, page_size=0)[0]) == len(VISIBLE)  # 0: the default page size
    assert browse(sort_by=4, page_number=10**6) == ([], len(VISIBLE))


def test_several_filters_give_several_results():
    body = {"filters": [
        {"criteria": [c(1, "lint"), VS_CODE], "pageNumber": 1, "pageSize": 10, "sortBy": 0},
        {"criteria": [c(7, "gamma.webby")], "pageNumber": 1, "pageSize": 1},
        {"criteria": [c(5, "Themes")], "pageNumber": 2, "pageSize": 10},
    ], "assetTypes": [], "flags": 950}
    reply = call("POST", "/extensionquery", body=body)
    assert len(reply.json["results"]) == 3
    assert results(reply, 0)[0] and ids(results(reply, 0)[0]) == ["acme.linter"]
    assert ids(results(reply, 1)[0]) == ["gamma.webby"]
    assert results(reply, 2) == ([], 1)


def test_search_results_honour_the_version_flags():
    (native,) = browse(c(10, "platform"))[0]
    assert versions_of(native) == LIVE["beta.native"]  # latest per platform
    (every,) = browse(c(10, "python"), flags=439)[0]
    assert versions_of(every) == LIVE["acme.linter"]  # every live version, not the unpublished 1.2.0
    (themes,) = browse(c(1, "dark"), flags=439)[0]
    assert versions_of(themes) == LIVE["acme.themes"]
    (bare,) = browse(c(1, "dark"), flags=0)[0]
    assert bare["versions"] == [] and "tags" not in bare
    (head,) = browse(c(1, "dark"), flags=0x10000)[0]
    assert versions_of(head) == LIVE["acme.themes"]
    (latest,) = browse(c(1, "dark"), flags=950)[0]
    assert versions_of(latest) == [("2.1.0", "universal")] and latest["versions"][0]["assetUri"]
    assert stats(latest)["install"] == INSTALLS["acme.themes"]


def test_search_hits_carry_the_same_ids_as_lookups():
    (hit,) = browse(c(10, "python"))[0]
    assert hit["extensionId"] == by_name("acme.linter")["extensionId"]
    assert hit["publisher"]["publisherId"] == by_name("acme.themes")["publisher"]["publisherId"]


# ====================================================================================== malformed bodies


def _post(raw: str | None, *, base64_body: bool = False) -> Reply:
    return call("POST", "/extensionquery", raw_body=raw, base64_body=base64_body)


@pytest.mark.parametrize(("raw", "message"), [
    (None, "JSON object"),
    ("", "JSON object"),
    ("   ", "JSON object"),
    ("{", "not valid JSON"),
    ("filters=1", "not valid JSON"),
    ("null", "JSON object"),
    ("[]", "JSON object"),
    ('"filters"', "JSON object"),
    ("{}", "'filters'"),
    ('{"filters": []}', "'filters'"),
    ('{"filters": {}}', "'filters'"),
    ('{"filters": "x"}', "'filters'"),
    ('{"filters": [7]}', "filters[0] must be an object"),
    ('{"filters": [{"criteria": "x"}]}', "criteria must be a list"),
    ('{"filters": [{"criteria": [7]}]}', "criteria[0] must be an object"),
    ('{"filters": [{"criteria": [{"filterType": 99, "value": "x"}]}]}', "filterType 99"),
    ('{"filters": [{"criteria": [{"filterType": "x", "value": "x"}]}]}', "filterType must be an integer"),
    ('{"filters": [{"criteria": [{"filterType": 7, "value": 7}]}]}', "value must be a string"),
    ('{"filters": [{"criteria": [{"filterType": 7, "value": "' + "a" * 1025 + '"}]}]}', "longer than"),
    ('{"filters": [{}], "flags": "all"}', "flags must be an integer"),
    ('{"filters": [{}], "flags": 1.5}', "flags must be an integer"),
    ('{"filters": [{}], "flags": -1}', "flags"),
    ('{"filters": [{"pageSize": "x"}]}', "pageSize must be an integer"),
    ('{"filters": [{"pageSize": -1}]}', "pageSize must be between"),
    ('{"filters": [{"pageSize": 100000}]}', "pageSize must be between"),
    ('{"filters": [{"pageNumber": 0}]}', "pageNumber must be 1 or more"),
    ('{"filters": [{"sortBy": 77}]}', "sortBy 77"),
    ('{"filters": [{"sortOrder": 9}]}', "sortOrder"),
    ('{"filters": [{}], "assetTypes": 5}', "assetTypes"),
    ('{"filters": [{"pageSize": ' + "9" * 5000 + "}]}", "not valid JSON"),  # past int()'s digit limit
    ("[" * 100000 + "]" * 100000, "not valid JSON"),  # nesting past the recursion limit
])
def test_malformed_bodies_are_400_json_never_500(raw, message):
    assert message in error(_post(raw), 400)


def test_a_body_that_is_not_utf8_is_a_400():
    raw = base64.b64encode(b'{"filters": [{"criteria": [{"filterType": 10, "value": "\xff\xfe"}]}]}').decode()
    assert "not valid JSON" in error(_post(raw, base64_body=True), 400)
    ok = base64.b64encode(json.dumps({"filters": [{"criteria": [c(7, "acme.linter")]}], "flags": 0}).encode())
    assert _post(ok.decode(), base64_body=True).status == 200


def test_lookup_values_that_cannot_be_ids_find_nothing():
    huge = "\u20ac" * 1000  # 3000 bytes: longer than a DynamoDB key may be
    for criterion in (c(7, huge), c(4, huge), c(7, "no dot"), c(7, "a.b.c"), c(4, "not-a-uuid"), c(7, "."),
                      c(7, "../../etc")):
        assert results(query(criterion, flags=439)) == ([], 0)


def test_a_query_with_a_huge_page_number_is_empty():
    assert results(query(c(7, "acme.linter"), page_number=10**9)) == ([], 1)
