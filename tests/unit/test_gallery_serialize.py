"""The raw gallery extension object (docs/protocols/vscode-gallery.md A4) as each flag shapes it, on hand-built
read-model views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.catalog.ids import extension_uuid, publisher_uuid
from marketplace.catalog.model import ExtensionView, VersionView, sort_versions
from marketplace.gallery import serialize
from marketplace.gallery.query import TARGET, Flags

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
PACKAGE = "Microsoft.VisualStudio.Services.VSIXPackage"
DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
URLS = serialize.Urls.of("https://mp.example/")
ALL_FILES = (PACKAGE, MANIFEST, DETAILS, serialize.WEB_RESOURCES, serialize.REPOSITORY_SIGNATURE)


def version(number: str, target: str = "universal", *, pre: bool = False, web: bool = False, days: int = 0,
            assets: tuple[str, ...] = (PACKAGE, MANIFEST), **more: object) -> VersionView:
    return VersionView(version=number, target_platform=target, pre_release=pre, published_at=T0 + timedelta(days=days),
                       engine="^1.80.0", asset_base=f"assets/Pub/Ext/{number}/{target}/u1", assets=assets,
                       web_extension=web, **more)  # type: ignore[arg-type]


def view(*versions: VersionView, latest: str | None = "1.0.0", pre: str | None = None, **more: object) -> ExtensionView:
    values: dict[str, object] = dict(
        extension_id="pub.ext", publisher="Pub", name="Ext", display_name="The Ext", description="Does things",
        categories=("Linters",), tags=("lint",), latest_version=latest, latest_prerelease=pre, created_at=T0,
        updated_at=T0 + timedelta(days=9), versions=sort_versions(versions))
    values.update(more)
    return ExtensionView(**values)  # type: ignore[arg-type]


def test_urls_point_assets_at_the_cdn_and_the_fallback_at_the_api():
    v = version("1.0.0")
    extension = view(v)
    assert URLS.base == "https://mp.example" and URLS.service == "https://mp.example/_apis/public/gallery"
    assert URLS.asset_uri(v) == "https://mp.example/assets/Pub/Ext/1.0.0/universal/u1"
    assert URLS.fallback_asset_uri(extension, v) == "https://mp.example/_apis/public/gallery/assets/Pub/Ext/1.0.0"
    odd = view(version("1.0.0+build.5"), name="Ext")
    assert URLS.fallback_asset_uri(odd, odd.versions[0]).endswith("/assets/Pub/Ext/1.0.0%2Bbuild.5")


def test_times_are_iso_utc_with_milliseconds():
    assert serialize.iso(T0) == "2026-01-02T03:04:05.678Z"
    assert serialize.iso(datetime(2026, 1, 2, 4, 4, 5, tzinfo=UTC).astimezone()).endswith("04:04:05.000Z")


def test_listed_assets_leave_out_what_cannot_be_fetched_and_the_signature_unless_asked(monkeypatch):
    v = version("1.0.0", assets=ALL_FILES)
    monkeypatch.delenv("GALLERY_ADVERTISE_VSIX_SIGNATURE", raising=False)
    assert serialize.listed_assets(v) == [PACKAGE, MANIFEST, DETAILS]
    monkeypatch.setenv("GALLERY_ADVERTISE_VSIX_SIGNATURE", "true")
    assert serialize.listed_assets(v) == [PACKAGE, MANIFEST, DETAILS, serialize.VSIX_SIGNATURE]
    files = serialize.version_json(view(v), v, Flags.INCLUDE_FILES, URLS)["files"]
    signature = next(f for f in files if f["assetType"] == serialize.VSIX_SIGNATURE)
    assert signature["source"] == f"{URLS.asset_uri(v)}/{serialize.VSIX_SIGNATURE}"  # the ingest stores both
    unsigned = version("1.0.0", assets=(PACKAGE,))
    assert serialize.listed_assets(unsigned) == [PACKAGE]  # nothing to advertise without our signature


def test_properties_carry_what_the_client_would_otherwise_download_the_manifest_for():
    plain = {p["key"]: p["value"] for p in serialize.properties(version(
        "1.0.0", dependencies=("a.b", "c.d"), extension_pack=("e.f",), extension_kind=("workspace", "web"),
        localized_languages=("de",)))}
    assert plain == {serialize.ENGINE: "^1.80.0", serialize.DEPENDENCIES: "a.b,c.d", serialize.PACK: "e.f",
                     serialize.KIND: "workspace,web", serialize.LANGUAGES: "de", serialize.EXECUTES_CODE: "true"}
    rich = {p["key"]: p["value"] for p in serialize.properties(version(
        "1.1.0", pre=True, web=True, executes_code=False, enabled_api_proposals=("fs",),
        repository="https://git.example/r", bugs="https://git.example/r/issues", homepage="https://r.example"))}
    assert rich[serialize.PRE_RELEASE] == "true" and rich[serialize.WEB_EXTENSION] == "true"
    assert rich[serialize.EXECUTES_CODE] == "false" and rich[serialize.PROPOSALS] == "fs"
    assert rich[serialize.SOURCE] == "https://git.example/r" and rich[serialize.SUPPORT].endswith("/issues")
    assert rich[serialize.LEARN] == "https://r.example"
    assert rich[serialize.DEPENDENCIES] == "" and rich[serialize.PACK] == ""  # present even when empty


def _multi() -> ExtensionView:
    return view(version("2.0.0", "linux-x64", days=5), version("2.0.0", "win32-x64", days=5),
                version("2.1.0-next.1", "linux-x64", pre=True, days=6), version("1.0.0", days=1),
                version("0.9.0", days=0), latest="2.0.0", pre="2.1.0-next.1")


@pytest.mark.parametrize(("flags", "expected"), [
    (Flags.NONE, []),
    (Flags.INCLUDE_CATEGORY_AND_TAGS | Flags.INCLUDE_STATISTICS, []),
    (Flags.INCLUDE_VERSIONS, ["2.1.0-next.1@linux-x64", "2.0.0@linux-x64", "2.0.0@win32-x64", "1.0.0@universal",
                              "0.9.0@universal"]),
    (Flags.INCLUDE_LATEST_VERSION_ONLY, ["2.1.0-next.1@linux-x64", "2.0.0@win32-x64", "1.0.0@universal"]),
    (Flags.INCLUDE_LATEST_PRERELEASE_AND_STABLE_VERSION_ONLY,
     ["2.1.0-next.1@linux-x64", "2.0.0@linux-x64", "2.0.0@win32-x64", "1.0.0@universal"]),
    (Flags.INCLUDE_FILES, ["2.1.0-next.1@linux-x64", "2.0.0@win32-x64", "1.0.0@universal"]),
    (Flags.INCLUDE_VERSION_PROPERTIES, ["2.1.0-next.1@linux-x64", "2.0.0@win32-x64", "1.0.0@universal"]),
    (Flags.INCLUDE_ASSET_URI, ["2.1.0-next.1@linux-x64", "2.0.0@win32-x64", "1.0.0@universal"]),
    (Flags.INCLUDE_VERSIONS | Flags.INCLUDE_LATEST_VERSION_ONLY, ["2.1.0-next.1@linux-x64", "2.0.0@linux-x64",
                                                                  "2.0.0@win32-x64", "1.0.0@universal",
                                                                  "0.9.0@universal"]),
])
def test_the_version_flags_choose_the_versions(flags, expected):
    chosen = [f"{v['version']}@{v.get('targetPlatform', 'universal')}"
              for v in serialize.extension_json(_multi(), flags, URLS)["versions"]]
    assert chosen == expected


def test_a_version_carries_only_what_its_flags_ask_for():
    v = version("2.0.0", "linux-x64", assets=(PACKAGE, MANIFEST, DETAILS))
    extension = view(v, latest="2.0.0")
    bare = serialize.version_json(extension, v, Flags.INCLUDE_VERSIONS, URLS)
    assert bare == {"version": "2.0.0", "flags": "validated", "lastUpdated": "2026-01-02T03:04:05.678Z",
                    "targetPlatform": "linux-x64"}
    full = serialize.version_json(extension, v, Flags(439), URLS)
    assert full["files"] == [{"assetType": a, "source": f"https://mp.example/{v.asset_base}/{a}"}
                             for a in (PACKAGE, MANIFEST, DETAILS)]
    assert {p["key"] for p in full["properties"]} >= {serialize.ENGINE, serialize.DEPENDENCIES, serialize.PACK}
    assert full["assetUri"] == f"https://mp.example/{v.asset_base}"
    assert full["fallbackAssetUri"] == "https://mp.example/_apis/public/gallery/assets/Pub/Ext/2.0.0"
    universal = serialize.version_json(extension, version("1.0.0"), Flags(439), URLS)
    assert "targetPlatform" not in universal  # VS Code reads an absent platform as universal


def test_the_extension_object_always_has_its_identity_and_a_string_flags():
    extension = view(version("1.0.0", web=True), tags=("lint",), verified=True)
    raw = serialize.extension_json(extension, Flags.NONE, URLS)
    assert raw["extensionId"] == extension_uuid("pub.ext") and raw["extensionName"] == "Ext"
    assert raw["publisher"] == {"publisherId": publisher_uuid("pub"), "publisherName": "Pub", "displayName": "Pub",
                                "flags": "verified", "domain": None, "isDomainVerified": False}
    assert raw["displayName"] == "The Ext" and raw["shortDescription"] == "Does things"
    assert raw["flags"] == "validated, public" and raw["versions"] == []
    assert raw["publishedDate"] == raw["releaseDate"] == "2026-01-02T03:04:05.678Z"
    assert raw["lastUpdated"] == "2026-01-11T03:04:05.678Z"
    for absent in ("categories", "tags", "statistics", "installationTargets"):
        assert absent not in raw
    tagged = serialize.extension_json(extension, Flags.INCLUDE_CATEGORY_AND_TAGS
                                      | Flags.INCLUDE_INSTALLATION_TARGETS, URLS)
    assert tagged["categories"] == ["Linters"] and tagged["tags"] == ["lint", "__web_extension"]
    assert tagged["installationTargets"] == [{"target": TARGET, "targetVersion": ""}]
    unverified = serialize.extension_json(view(version("1.0.0"), display_name=None, description=None), Flags.NONE,
                                          URLS)
    assert unverified["publisher"]["flags"] == "none"
    assert unverified["displayName"] == "Ext" and unverified["shortDescription"] == ""


def test_a_pre_release_only_extension_is_flagged_preview():
    only_pre = view(version("0.1.0", pre=True), latest=None, pre="0.1.0")
    assert serialize.extension_json(only_pre, Flags.NONE, URLS)["flags"] == "validated, public, preview"
    both = view(version("1.0.0"), version("1.1.0", pre=True), latest="1.0.0", pre="1.1.0")
    assert serialize.extension_json(both, Flags.NONE, URLS)["flags"] == "validated, public"


def test_statistics_and_the_weighted_rating():
    unrated = serialize.statistics(view(version("1.0.0"), installs=7, updates=2, downloads=11))
    assert unrated == [{"statisticName": "install", "value": 7}, {"statisticName": "updateCount", "value": 2},
                       {"statisticName": "downloadCount", "value": 11},
                       {"statisticName": "trendingdaily", "value": 0.0},
                       {"statisticName": "trendingweekly", "value": 0.0},
                       {"statisticName": "trendingmonthly", "value": 0.0}]
    rated = view(version("1.0.0"), average_rating=5.0, rating_count=5)
    names = {s["statisticName"]: s["value"] for s in serialize.statistics(rated)}
    assert names["averagerating"] == 5.0 and names["ratingcount"] == 5
    assert names["weightedRating"] == serialize.weighted_rating(rated) == 4.0  # (25 + 15) / 10
    many = view(version("1.0.0"), average_rating=5.0, rating_count=995)
    assert serialize.weighted_rating(many) == 4.99
    assert serialize.weighted_rating(view(version("1.0.0"))) == 0.0
    raw = serialize.extension_json(rated, Flags.INCLUDE_STATISTICS, URLS)
    assert raw["statistics"] == serialize.statistics(rated)


def test_the_result_always_carries_the_total_count():
    assert serialize.result([], 0) == {"extensions": [], "pagingToken": None, "resultMetadata": [
        {"metadataType": "ResultCount", "metadataItems": [{"name": "TotalCount", "count": 0}]}]}
    assert serialize.result([{"x": 1}], 12)["resultMetadata"][0]["metadataItems"][0]["count"] == 12


def test_explicit_versions_override_the_flags():
    extension = _multi()
    raw = serialize.extension_json(extension, Flags.INCLUDE_LATEST_VERSION_ONLY, URLS, versions=extension.versions[-1:])
    assert [v["version"] for v in raw["versions"]] == ["0.9.0"]
