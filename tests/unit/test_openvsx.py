"""Open VSX shapes and rules (docs/protocols/open-vsx.md) on hand-built read-model views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace.catalog.model import ExtensionView, VersionView, sort_versions
from marketplace.gallery import openvsx
from marketplace.gallery.openvsx import ApiPath, parse_path

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PACKAGE = "Microsoft.VisualStudio.Services.VSIXPackage"
MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
ICON = "Microsoft.VisualStudio.Services.Icons.Default"
SIGNATURE = "Marketplace.RepositorySignature"
URLS = openvsx.Urls.of("https://reg.example/")
BASE = "https://reg.example"


def version(number: str, target: str = "universal", *, pre: bool = False, days: int = 0,
            assets: tuple[str, ...] = (PACKAGE, MANIFEST, SIGNATURE), **more: object) -> VersionView:
    values: dict[str, object] = dict(
        version=number, target_platform=target, pre_release=pre, published_at=T0 + timedelta(days=days),
        engine="^1.80.0", asset_base=f"assets/acme/hello/{number}/{target}/u1", assets=assets, sha256="ab" * 32,
        published_by="alice")
    values.update(more)
    return VersionView(**values)  # type: ignore[arg-type]


def view(*versions: VersionView, **more: object) -> ExtensionView:
    values: dict[str, object] = dict(
        extension_id="acme.hello", publisher="acme", name="hello", display_name="Hello", description="Says hello",
        categories=("Other",), tags=("greeting",), latest_version="1.2.0", latest_prerelease=None, created_at=T0,
        updated_at=T0, versions=sort_versions(versions))
    values.update(more)
    return ExtensionView(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ paths


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/acme", ApiPath("namespace", "acme")),
    ("/api/acme/details", ApiPath("details", "acme")),
    ("/api/acme/hello", ApiPath("extension", "acme", "hello")),
    ("/api/acme/hello/linux-x64", ApiPath("extension", "acme", "hello", "linux-x64")),
    ("/api/acme/hello/universal", ApiPath("extension", "acme", "hello", "universal")),
    ("/api/acme/hello/1.2.3", ApiPath("extension", "acme", "hello", None, "1.2.3")),
    ("/api/acme/hello/1.2.3-rc.1%2Bbuild.5", ApiPath("extension", "acme", "hello", None, "1.2.3-rc.1+build.5")),
    ("/api/acme/hello/latest", ApiPath("extension", "acme", "hello", None, "latest")),
    ("/api/acme/hello/pre-release", ApiPath("extension", "acme", "hello", None, "pre-release")),
    ("/api/acme/hello/web/2.0.0", ApiPath("extension", "acme", "hello", "web", "2.0.0")),
    ("/api/acme/hello/versions", ApiPath("versions", "acme", "hello")),
    ("/api/acme/hello/win32-x64/version-references", ApiPath("version-references", "acme", "hello", "win32-x64")),
    ("/api/acme/hello/1.0.0/file/README.md", ApiPath("file", "acme", "hello", None, "1.0.0", "README.md")),
    ("/api/acme/hello/darwin-arm64/latest/file/a/b%20c.txt",
     ApiPath("file", "acme", "hello", "darwin-arm64", "latest", "a/b c.txt")),
    ("/api/acme/hello/1.0.0/file/acme.hello-1.0.0%40linux-x64.vsix",
     ApiPath("file", "acme", "hello", None, "1.0.0", "acme.hello-1.0.0@linux-x64.vsix")),
])
def test_paths_name_one_route_and_versions_and_platforms_tell_themselves_apart(path, expected):
    assert parse_path(path) == expected


@pytest.mark.parametrize("path", [
    "/api/", "/api//hello", "/api/acme/", "/api/acme/hello/", "/api/acme/hello/1.0", "/api/acme/hello/01.0.0",
    "/api/acme/hello/linux-x65", "/api/acme/hello/linux-x64/web", "/api/acme/hello/1.0.0/1.0.0",
    "/api/acme/hello/1.0.0/file", "/api/acme/hello/1.0.0/file/", "/api/acme/hello/1.0.0/file/a//b",
    "/api/acme/hello/1.0.0/files/x", "/api/acme/hello/linux-x64/1.0.0/versions", "/api/acme/hello/reviews",
    "/_apis/public/gallery/x", "/api/acme/hello/1.0.0/" + "x" * 10,
])
def test_other_shapes_are_no_route(path):
    assert parse_path(path) is None


def test_names_that_cannot_exist_are_recognised_without_a_lookup():
    assert openvsx.valid_name("acme") and openvsx.valid_name("Acme-2")
    assert not any(openvsx.valid_name(n) for n in ("-", "-acme", "a.b", "a b", "ä", "", "x" * 129))
    assert openvsx.valid_uuid("6f1c7a52-3d5e-4b1a-9a51-6d1e2b8a4c10")
    assert not any(openvsx.valid_uuid(u) for u in ("", "x", "6f1c7a52", "1" * 5000))


# ------------------------------------------------------------------------------------------- parameters


def test_integers_are_checked_like_open_vsx():
    assert openvsx.integer({}, "size", 18) == 18 and openvsx.integer({"size": " 7 "}, "size", 18) == 7
    assert openvsx.integer({"size": ""}, "size", 18) == 18
    for bad, message in (("-1", "must not be negative"), ("abc", "must be an integer"), ("1.5", "must be an integer"),
                         ("²", "must be an integer"), ("9" * 40, "must be an integer"),
                         ("99999999999", "must be at most")):
        with pytest.raises(openvsx.InvalidParameter, match=message) as raised:
            openvsx.integer({"size": bad}, "size", 18)
        assert raised.value.status == 400 and raised.value.body() == {"error": raised.value.message}
        assert "'size'" in raised.value.message


def test_search_parameters_have_open_vsx_defaults_and_messages():
    params = openvsx.parse_search({})
    assert params == openvsx.SearchParams("", None, None, 18, 0, "relevance", True, False)
    params = openvsx.parse_search({"query": " lint ", "category": "Linters", "targetPlatform": "linux-x64",
                                   "size": "5000", "offset": "20", "sortOrder": "asc", "sortBy": "downloadCount",
                                   "includeAllVersions": "TRUE"})
    assert params == openvsx.SearchParams("lint", "Linters", "linux-x64", 100, 20, "downloads", False, True)
    assert openvsx.parse_search({"sortBy": "timestamp"}).sort == "updated"
    assert openvsx.parse_search({"sortBy": "rating"}).sort == "rating"
    assert openvsx.parse_search({"sortBy": "averageRating"}).sort == "rating"
    assert openvsx.parse_search({"targetPlatform": "amiga"}).target_platform is None  # ignored, as Open VSX does
    with pytest.raises(openvsx.InvalidParameter, match="sortOrder"):
        openvsx.parse_search({"sortOrder": "up"})
    with pytest.raises(openvsx.InvalidParameter, match=r"'relevance', 'timestamp', 'rating' or 'downloadCount'\."):
        openvsx.parse_search({"sortBy": "name"})
    with pytest.raises(openvsx.InvalidParameter, match="'size' must not be negative"):
        openvsx.parse_search({"size": "-1"})
    with pytest.raises(openvsx.InvalidParameter, match="includeAllVersions"):
        openvsx.parse_search({"includeAllVersions": "yes"})


def test_query_parameters_split_the_extension_id_and_check_conflicts():
    query = openvsx.parse_query({"extensionId": "acme.hello", "size": "3"}, v2=False)
    assert (query.namespace, query.extension, query.size, query.offset) == ("acme", "hello", 3, 0)
    assert query.include_all_versions == "false" and query.has_criteria
    assert openvsx.parse_query({}, v2=False).size == 100 and not openvsx.parse_query({}, v2=False).has_criteria
    for bad in ("acme", "acme.", ".hello", "a.b.c"):
        with pytest.raises(openvsx.InvalidParameter,
                           match=r"The 'extensionId' parameter must have the format 'namespace\.extension'\."):
            openvsx.parse_query({"extensionId": bad}, v2=False)
    with pytest.raises(openvsx.InvalidParameter, match="Conflicting parameters 'extensionId' and 'namespaceName'"):
        openvsx.parse_query({"extensionId": "acme.hello", "namespaceName": "other"}, v2=False)
    with pytest.raises(openvsx.InvalidParameter, match="Conflicting parameters 'extensionId' and 'extensionName'"):
        openvsx.parse_query({"extensionId": "acme.hello", "extensionName": "other"}, v2=True)


def test_query_include_all_versions_differs_between_v1_and_v2():
    assert openvsx.parse_query({"includeAllVersions": "true"}, v2=False).include_all_versions == "true"
    # v1 ignores it when a version is named; v2 falls back to links then
    assert openvsx.parse_query({"includeAllVersions": "true", "extensionVersion": "1.0.0"},
                               v2=False).include_all_versions == "false"
    assert openvsx.parse_query({}, v2=True).include_all_versions == "links"
    assert openvsx.parse_query({"includeAllVersions": "false"}, v2=True).include_all_versions == "false"
    assert openvsx.parse_query({"includeAllVersions": "true", "extensionVersion": "1.0.0"},
                               v2=True).include_all_versions == "links"
    with pytest.raises(openvsx.InvalidParameter, match=r"^Invalid includeAllVersions value: links2\.$"):
        openvsx.parse_query({"includeAllVersions": "links2"}, v2=True)
    with pytest.raises(openvsx.InvalidParameter):
        openvsx.parse_query({"includeAllVersions": "links"}, v2=False)


# ------------------------------------------------------------------------------------------------ versions


def pick(extension: ExtensionView, target: str | None, number: str | None) -> VersionView:
    chosen = openvsx.select(extension, target, number)
    assert chosen is not None
    return chosen


def entry_of(extension: ExtensionView, **options: object) -> dict[str, object]:
    entry = openvsx.search_entry(extension, URLS, **options)  # type: ignore[arg-type]
    assert entry is not None
    return entry


def _multi() -> ExtensionView:
    return view(version("2.0.0", pre=True, days=5), version("1.2.0", "win32-x64", days=3),
                version("1.2.0", "linux-x64", days=3), version("1.2.0", days=2), version("1.1.0", days=1),
                version("1.0.0"))


def test_latest_is_the_newest_of_any_kind_and_the_universal_build_comes_first():
    extension = _multi()
    assert [(v.version, v.target_platform) for v in openvsx.ordered(extension.versions)] == [
        ("2.0.0", "universal"), ("1.2.0", "universal"), ("1.2.0", "linux-x64"), ("1.2.0", "win32-x64"),
        ("1.1.0", "universal"), ("1.0.0", "universal")]
    assert pick(extension, None, None).version == "2.0.0"
    assert pick(extension, None, "latest").version == "2.0.0"
    assert pick(extension, None, "pre-release").version == "2.0.0"
    assert pick(extension, "universal", None).version == "2.0.0"
    linux = pick(extension, "linux-x64", None)
    assert (linux.version, linux.target_platform) == ("1.2.0", "linux-x64")
    assert openvsx.select(extension, "linux-x64", "pre-release") is None
    assert pick(extension, None, "1.2.0").target_platform == "universal"
    assert pick(extension, "win32-x64", "1.2.0").target_platform == "win32-x64"
    only_builds = view(version("3.0.0", "win32-x64"), version("3.0.0", "alpine-x64"))
    assert pick(only_builds, None, "3.0.0").target_platform == "alpine-x64"
    assert openvsx.select(extension, None, "9.9.9") is None
    assert openvsx.select(extension, "darwin-arm64", None) is None
    assert openvsx.select(view(), None, None) is None


def test_the_version_a_path_names_or_missing_naming_what_was_asked():
    extension = _multi()
    linux = openvsx.path_version(extension, ApiPath("extension", "acme", "hello", "linux-x64", "1.2.0"))
    assert (linux.version, linux.target_platform) == ("1.2.0", "linux-x64")
    assert openvsx.path_version(extension, ApiPath("extension", "acme", "hello")).version == "2.0.0"
    with pytest.raises(openvsx.Missing, match=r"^Extension not found: acme\.hello 9\.9\.9$"):
        openvsx.path_version(extension, ApiPath("extension", "acme", "hello", None, "9.9.9"))
    with pytest.raises(openvsx.Missing, match=r"^Extension not found: acme\.hello pre-release \(linux-x64\)$"):
        openvsx.path_version(extension, ApiPath("extension", "acme", "hello", "linux-x64", "pre-release"))
    with pytest.raises(openvsx.Missing, match=r"^Extension not found: acme\.hello \(darwin-arm64\)$"):
        openvsx.path_version(extension, ApiPath("versions", "acme", "hello", "darwin-arm64"))


def test_query_versions_are_the_newest_per_platform_unless_asked_otherwise():
    extension = _multi()
    newest = openvsx.parse_query({"extensionId": "acme.hello"}, v2=False)
    assert [(v.version, v.target_platform) for v in openvsx.query_versions(extension, newest)] == [
        ("2.0.0", "universal"), ("1.2.0", "linux-x64"), ("1.2.0", "win32-x64")]
    every = openvsx.parse_query({"extensionId": "acme.hello", "includeAllVersions": "true"}, v2=False)
    assert len(openvsx.query_versions(extension, every)) == 6
    pinned = openvsx.parse_query({"extensionId": "acme.hello", "extensionVersion": "1.2.0",
                                  "targetPlatform": "win32-x64"}, v2=True)
    assert [(v.version, v.target_platform) for v in openvsx.query_versions(extension, pinned)] == [
        ("1.2.0", "win32-x64")]


# --------------------------------------------------------------------------------------------- urls, files


def test_urls_leave_out_universal_and_encode_each_segment():
    extension = view(version("1.0.0"))
    v = extension.versions[0]
    assert URLS.version(extension, None, "1.0.0") == f"{BASE}/api/acme/hello/1.0.0"
    assert URLS.version(extension, "universal", "1.0.0") == f"{BASE}/api/acme/hello/1.0.0"
    assert URLS.version(extension, "linux-x64", "latest") == f"{BASE}/api/acme/hello/linux-x64/latest"
    assert URLS.listing(extension, "web", "versions") == f"{BASE}/api/acme/hello/web/versions"
    assert URLS.file(extension, v, "a/b c.md") == f"{BASE}/api/acme/hello/1.0.0/file/a/b%20c.md"
    assert URLS.cdn(v, PACKAGE) == f"{BASE}/assets/acme/hello/1.0.0/universal/u1/{PACKAGE}"
    odd = view(version("1.0.0+b.1", "linux-x64"))
    assert URLS.file(odd, odd.versions[0], "x.vsix") == f"{BASE}/api/acme/hello/linux-x64/1.0.0%2Bb.1/file/x.vsix"


def test_file_names_and_keys():
    extension = view(version("1.0.0", "linux-x64", assets=(PACKAGE, MANIFEST, DETAILS, ICON, SIGNATURE)))
    v = extension.versions[0]
    assert openvsx.file_name(extension, v, "download") == "acme.hello-1.0.0@linux-x64.vsix"
    assert openvsx.file_name(extension, v, "sha256") == "acme.hello-1.0.0@linux-x64.sha256"
    assert openvsx.file_name(extension, v, "signature") == "acme.hello-1.0.0@linux-x64.sigzip"
    universal = view(version("1.0.0"))
    assert openvsx.file_name(universal, universal.versions[0], "download") == "acme.hello-1.0.0.vsix"
    for requested, key in (("acme.hello-1.0.0@linux-x64.vsix", "download"),
                           ("ACME.hello-1.0.0@linux-x64.VSIX", "download"), ("download", "download"),
                           ("package.json", "manifest"), ("Manifest", "manifest"), ("README.md", "readme"),
                           ("icon", "icon"), ("acme.hello-1.0.0@linux-x64.sha256", "sha256"),
                           ("acme.hello-1.0.0@linux-x64.sigzip", "signature")):
        assert openvsx.file_key(extension, v, requested) == key, requested
    for missing in ("CHANGELOG.md", "changelog", "LICENSE.txt", "acme.hello-1.0.0.vsix", "extension/package.json",
                    "../x", ""):
        assert openvsx.file_key(extension, v, missing) is None, missing
    no_digest = view(version("1.0.0", sha256=""))
    assert openvsx.file_key(no_digest, no_digest.versions[0], "sha256") is None


def test_files_keep_the_package_and_digest_on_the_api_and_send_the_rest_to_the_cdn():
    extension = view(version("1.0.0", assets=(PACKAGE, MANIFEST, DETAILS, ICON, SIGNATURE)))
    v = extension.versions[0]
    cdn = f"{BASE}/assets/acme/hello/1.0.0/universal/u1"
    assert openvsx.files(extension, v, URLS) == {
        "download": f"{BASE}/api/acme/hello/1.0.0/file/acme.hello-1.0.0.vsix",
        "manifest": f"{cdn}/{MANIFEST}",
        "readme": f"{cdn}/{DETAILS}",
        "icon": f"{cdn}/{ICON}",
        "signature": f"{cdn}/{SIGNATURE}",
        "sha256": f"{BASE}/api/acme/hello/1.0.0/file/acme.hello-1.0.0.sha256",
    }


# ------------------------------------------------------------------------------------------------ shapes


def test_extension_json_of_the_latest_version():
    extension = view(version("1.1.0", pre=True, days=2, dependencies=("acme.base", "broken"),
                             extension_pack=("other.pack",), extension_kind=("workspace",), license="MIT",
                             repository="https://git.example/hello"),
                     version("1.0.0", display_name="Old Hello"), verified=True, downloads=12, rating_count=3,
                     average_rating=4.5)
    v = extension.versions[0]
    body = openvsx.extension_json(extension, v, URLS)
    assert body["namespaceUrl"] == f"{BASE}/api/acme" and body["reviewsUrl"] == f"{BASE}/api/acme/hello/reviews"
    assert (body["namespace"], body["name"], body["version"], body["targetPlatform"]) == (
        "acme", "hello", "1.1.0", "universal")
    assert body["preRelease"] is True and body["versionAlias"] == ["latest", "pre-release"]
    assert body["verified"] is True and body["unrelatedPublisher"] is False and body["namespaceAccess"] == "restricted"
    assert list(body["allVersions"]) == ["latest", "pre-release", "1.1.0", "1.0.0"]
    assert body["allVersions"]["pre-release"] == f"{BASE}/api/acme/hello/pre-release"
    assert body["allVersionsUrl"] == f"{BASE}/api/acme/hello/versions"
    assert body["url"] == f"{BASE}/api/acme/hello/1.1.0"
    assert body["timestamp"] == "2026-01-04T03:04:05.678Z" and body["publishedBy"] == {"loginName": "alice"}
    assert (body["downloadCount"], body["reviewCount"], body["averageRating"]) == (12, 3, 4.5)
    assert body["engines"] == {"vscode": "^1.80.0"} and body["categories"] == ["Other"]
    assert body["tags"] == ["greeting"] and body["extensionKind"] == ["workspace"] and body["license"] == "MIT"
    assert body["dependencies"] == [{"url": f"{BASE}/api/acme/base", "namespace": "acme", "extension": "base"}]
    assert body["bundledExtensions"] == [{"url": f"{BASE}/api/other/pack", "namespace": "other",
                                          "extension": "pack"}]
    assert body["downloads"] == {"universal": f"{BASE}/api/acme/hello/1.1.0/file/acme.hello-1.1.0.vsix"}
    assert body["allTargetPlatformVersions"] == [{"version": "1.1.0", "targetPlatforms": ["universal"]},
                                                 {"version": "1.0.0", "targetPlatforms": ["universal"]}]
    assert body["deprecated"] is False and body["downloadable"] is True
    assert body["displayName"] == "Hello" and body["namespaceDisplayName"] == "acme"
    # null fields are left out
    assert "replacement" not in body and "homepage" not in body and "bugs" not in body and None not in body.values()

    older = openvsx.extension_json(extension, extension.versions[1], URLS)
    assert older["versionAlias"] == [] and older["displayName"] == "Old Hello" and older["preRelease"] is False
    unrated = openvsx.extension_json(view(version("1.0.0")), version("1.0.0"), URLS)
    assert "averageRating" not in unrated and unrated["unrelatedPublisher"] is True


def test_extension_json_for_a_platform_scopes_aliases_versions_and_downloads():
    extension = _multi()
    linux = pick(extension, "linux-x64", None)
    body = openvsx.extension_json(extension, linux, URLS, target_platform="linux-x64")
    assert body["versionAlias"] == ["latest"]
    assert body["allVersions"] == {"latest": f"{BASE}/api/acme/hello/linux-x64/latest",
                                   "1.2.0": f"{BASE}/api/acme/hello/linux-x64/1.2.0"}
    assert body["allVersionsUrl"] == f"{BASE}/api/acme/hello/linux-x64/versions"
    assert body["downloads"] == {"linux-x64": f"{BASE}/api/acme/hello/linux-x64/1.2.0/file/"
                                              "acme.hello-1.2.0@linux-x64.vsix"}
    assert body["url"] == f"{BASE}/api/acme/hello/linux-x64/1.2.0"
    unscoped = openvsx.extension_json(extension, linux, URLS)
    assert unscoped["versionAlias"] == [] and set(unscoped["downloads"]) == {"linux-x64", "win32-x64", "universal"}
    assert unscoped["allTargetPlatformVersions"][1] == {"version": "1.2.0",
                                                        "targetPlatforms": ["universal", "linux-x64", "win32-x64"]}
    bare = openvsx.extension_json(extension, linux, URLS, all_versions=False, with_downloads=False)
    assert "allVersions" not in bare and "downloads" not in bare and "allVersionsUrl" in bare


def test_all_versions_hold_the_aliases_and_the_most_recent_hundred():
    extension = view(*(version(f"1.{n}.0", days=n) for n in range(130)))
    body = openvsx.extension_json(extension, extension.versions[0], URLS)
    keys = list(body["allVersions"])
    assert keys[:3] == ["latest", "1.129.0", "1.128.0"] and len(keys) == 101 and keys[-1] == "1.30.0"
    assert len(body["allTargetPlatformVersions"]) == 100


def test_a_deprecated_extension_names_its_replacement():
    extension = view(version("1.0.0"), deprecated=True, replacement="acme.hello2")
    body = openvsx.extension_json(extension, extension.versions[0], URLS, replacement_display_name="Hello 2")
    assert body["deprecated"] is True
    assert body["replacement"] == {"url": f"{BASE}/api/acme/hello2", "displayName": "Hello 2"}
    unnamed = openvsx.extension_json(extension, extension.versions[0], URLS)
    assert unnamed["replacement"]["displayName"] == "acme.hello2"


def test_search_entries_and_version_references():
    extension = view(version("1.1.0", days=1, assets=(PACKAGE, ICON, DETAILS)), version("1.0.0", "web"),
                     downloads=4, rating_count=1, average_rating=5.0)
    entry = entry_of(extension)
    assert entry == {
        "url": f"{BASE}/api/acme/hello",
        "files": {"download": f"{BASE}/api/acme/hello/1.1.0/file/acme.hello-1.1.0.vsix",
                  "sha256": f"{BASE}/api/acme/hello/1.1.0/file/acme.hello-1.1.0.sha256",
                  "icon": f"{BASE}/assets/acme/hello/1.1.0/universal/u1/{ICON}"},
        "name": "hello", "namespace": "acme", "version": "1.1.0", "timestamp": "2026-01-03T03:04:05.678Z",
        "verified": False, "averageRating": 5.0, "reviewCount": 1, "downloadCount": 4, "displayName": "Hello",
        "description": "Says hello", "deprecated": False,
    }
    full: dict[str, Any] = entry_of(extension, all_versions=extension.versions, target_platform="web")
    assert full["allVersionsUrl"] == f"{BASE}/api/acme/hello/web/version-references"
    assert [(r["version"], r["targetPlatform"]) for r in full["allVersions"]] == [("1.1.0", "universal"),
                                                                                  ("1.0.0", "web")]
    web = full["allVersions"][1]
    assert web["url"] == f"{BASE}/api/acme/hello/web/1.0.0" and web["engines"] == {"vscode": "^1.80.0"}
    assert set(web["files"]) == {"download", "sha256", "signature"}
    assert openvsx.search_entry(view(), URLS) is None


def test_version_lists_page_and_count():
    extension = _multi()
    listed = openvsx.versions_json(extension, None, URLS, 1, 2)
    assert listed == {"offset": 1, "totalSize": 4, "versions": {"1.2.0": f"{BASE}/api/acme/hello/1.2.0",
                                                                  "1.1.0": f"{BASE}/api/acme/hello/1.1.0"}}
    assert openvsx.versions_json(extension, "win32-x64", URLS, 0, 18)["versions"] == {
        "1.2.0": f"{BASE}/api/acme/hello/win32-x64/1.2.0"}
    assert openvsx.versions_json(extension, None, URLS, 0, 0)["versions"] == {}
    assert openvsx.versions_json(extension, None, URLS, 99, 18) == {"offset": 99, "totalSize": 4, "versions": {}}
    references = openvsx.version_references_json(extension, None, URLS, 1, 2)
    assert references["totalSize"] == 6
    assert [(r["version"], r["targetPlatform"]) for r in references["versions"]] == [
        ("1.2.0", "universal"), ("1.2.0", "linux-x64")]


def test_namespace_shapes():
    assert openvsx.namespace_json("acme", ["a", "b"], True, URLS) == {
        "name": "acme", "extensions": {"a": f"{BASE}/api/acme/a", "b": f"{BASE}/api/acme/b"}, "verified": True,
        "access": "restricted"}
    popular = view(version("1.0.0"), extension_id="acme.popular", name="popular", downloads=9)
    quiet = view(version("1.0.0"), extension_id="acme.quiet", name="quiet", downloads=1)
    details = openvsx.namespace_details_json("acme", [quiet, popular, view()], False, URLS)
    assert [e["name"] for e in details["extensions"]] == ["popular", "quiet"]
    assert details["verified"] is False and details["name"] == "acme"


def test_errors_carry_open_vsx_bodies():
    missing = openvsx.extension_not_found("acme", "nope")
    assert missing.status == 404 and missing.body() == {"error": "Extension not found: acme.nope"}
    assert openvsx.namespace_not_found("x").body() == {"error": "Namespace not found: x"}
    assert openvsx.result([], 5, 7) == {"offset": 5, "totalSize": 7, "extensions": []}
