"""The catalog's read model (the gallery's, Open VSX's and search's): version order, head versions, platforms
and tags as VS Code computes them, and the UUID rule."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from marketplace.catalog.ids import extension_uuid, publisher_uuid
from marketplace.catalog.model import (
    ExtensionView,
    VersionView,
    from_items,
    sort_versions,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def version(number: str, target: str = "universal", pre: bool = False, web: bool = False) -> VersionView:
    return VersionView(version=number, target_platform=target, pre_release=pre, published_at=NOW, engine="^1.80.0",
                       asset_base=f"assets/p/e/{number}/{target}/u", assets=("Microsoft.VisualStudio.Code.Manifest",),
                       web_extension=web)


def view(*versions: VersionView, tags: tuple[str, ...] = ()) -> ExtensionView:
    return ExtensionView(extension_id="pub.ext", publisher="Pub", name="Ext", display_name="Ext", description=None,
                         categories=(), tags=tags, latest_version=None, latest_prerelease=None, created_at=NOW,
                         updated_at=NOW, versions=sort_versions(versions))


def test_versions_are_newest_first_by_semver_with_platform_builds_before_universal():
    ordered = sort_versions([version("1.2.0"), version("1.10.0"), version("1.10.0", "linux-x64"),
                             version("1.10.0-beta.2", pre=True), version("1.10.0-beta.10", pre=True)])
    assert [(v.version, v.target_platform) for v in ordered] == [
        ("1.10.0", "linux-x64"), ("1.10.0", "universal"), ("1.10.0-beta.10", "universal"),
        ("1.10.0-beta.2", "universal"), ("1.2.0", "universal")]


def test_head_versions_are_the_newest_release_and_pre_release_per_platform():
    extension = view(version("2.1.0", pre=True), version("2.0.0"), version("1.0.0"), version("2.0.0", "win32-x64"),
                     version("1.9.0", "win32-x64"), version("2.2.0", "win32-x64", pre=True))
    assert [(v.version, v.target_platform) for v in extension.head_versions()] == [
        ("2.2.0", "win32-x64"), ("2.1.0", "universal"), ("2.0.0", "win32-x64"), ("2.0.0", "universal")]
    assert [(v.version, v.target_platform) for v in extension.latest_per_platform()] == [
        ("2.2.0", "win32-x64"), ("2.1.0", "universal")]


def test_a_web_extension_gets_the_web_tag_and_the_web_platform():
    extension = view(version("1.0.0", web=True), tags=("themes",))
    assert extension.all_tags == ("themes", "__web_extension")
    assert extension.target_platforms == {"universal", "web"}
    assert view(version("1.0.0")).target_platforms == {"universal"}


def test_uuids_are_stable_and_case_insensitive():
    assert extension_uuid("Pub.Ext") == extension_uuid("pub.ext") != extension_uuid("pub.other")
    assert publisher_uuid("Pub") == publisher_uuid("pub") != extension_uuid("pub")


def _item(**values: object) -> SimpleNamespace:
    return SimpleNamespace(**values)


def test_from_items_leaves_out_unpublished_versions_and_hides_a_blocked_extension():
    summary = _item(extension_id="pub.ext", publisher="Pub", name="Ext", display_name="Ext", description="d",
                    categories=["Other"], tags=["a"], latest_version="1.0.0", latest_prerelease=None, created_at=NOW,
                    updated_at=NOW, deprecated=False, replacement=None, deprecation_message=None, unpublished=False,
                    featured=True, verified=True, malicious=False)
    common = dict(target_platform="universal", pre_release=False, published_at=NOW, engine="^1.80.0",
                  asset_base="assets/x", assets={"Microsoft.VisualStudio.Code.Manifest": "application/json"},
                  display_name=None, description=None, categories=[], tags=[], dependencies=["a.b"],
                  extension_pack=[], extension_kind=["workspace"], localized_languages=[],
                  enabled_api_proposals=[], executes_code=True, web_extension=False, license=None, repository=None,
                  homepage=None, bugs=None, sha256="00", size=1, published_by="me")
    kept = _item(version="1.0.0", unpublished_at=None, **common)
    gone = _item(version="1.1.0", unpublished_at=NOW, **common)
    extension = from_items(summary, [kept, gone], {"installs": 7, "average_rating": 4.5, "rating_count": 2})
    assert [v.version for v in extension.versions] == ["1.0.0"]
    assert extension.versions[0].dependencies == ("a.b",)
    assert (extension.installs, extension.average_rating, extension.rating_count) == (7, 4.5, 2)
    assert extension.featured and extension.verified and not extension.unpublished
    summary.malicious = True
    blocked = from_items(summary, [kept])
    assert blocked.versions == () and blocked.unpublished
