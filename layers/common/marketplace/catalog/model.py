"""The read model every catalog reader shares: the VS Code gallery serializer, the Open VSX serializer and
the search index all work on ``ExtensionView``/``VersionView``, whichever store they came from (the
extensions table for authoritative lookups, the search snapshot for search and browse).

Pure Python: no AWS calls here. ``from_items`` turns table items (or anything with the same attributes)
into views; ``catalog.reader`` does the reading. The UUIDs in responses follow ``catalog.ids``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from marketplace.catalog.ids import UNIVERSAL, WEB_EXTENSION_TAG, extension_uuid, publisher_uuid
from marketplace.catalog.semver import Version
from marketplace.stats import measures

WEB = "web"


@dataclass(frozen=True, slots=True)
class VersionView:
    """One published (version, target platform) of an extension."""

    version: str
    target_platform: str
    pre_release: bool
    published_at: datetime
    engine: str
    asset_base: str  # key prefix of the public assets: ``<asset_base>/<assetType>``
    assets: tuple[str, ...]  # the asset types stored under asset_base
    display_name: str | None = None
    description: str | None = None
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    extension_pack: tuple[str, ...] = ()
    extension_kind: tuple[str, ...] = ()
    localized_languages: tuple[str, ...] = ()
    enabled_api_proposals: tuple[str, ...] = ()
    executes_code: bool = True
    web_extension: bool = False
    license: str | None = None
    repository: str | None = None
    homepage: str | None = None
    bugs: str | None = None
    sha256: str = ""
    size: int = 0
    published_by: str = ""
    signature_key_id: str | None = None  # the repository key that signed it (its public key is published)

    @property
    def sort_key(self) -> tuple[Version, bool]:
        """Newest first when sorted descending; a platform-specific build before the universal one."""
        return Version(self.version), self.target_platform != UNIVERSAL


@dataclass(frozen=True, slots=True)
class ExtensionView:
    """An extension as readers see it: its summary, its published versions newest first, its statistics.

    ``versions`` holds every published version when ``all_versions`` is true; views built from the search
    snapshot hold only the head versions (the newest release and pre-release per target platform).
    """

    extension_id: str  # lower-cased ``publisher.name``
    publisher: str  # display casing
    name: str  # display casing
    display_name: str | None
    description: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    latest_version: str | None
    latest_prerelease: str | None
    created_at: datetime
    updated_at: datetime
    versions: tuple[VersionView, ...]
    all_versions: bool = True
    deprecated: bool = False
    replacement: str | None = None
    deprecation_message: str | None = None
    unpublished: bool = False
    featured: bool = False
    verified: bool = False
    downloads: int = 0
    installs: int = 0
    updates: int = 0
    average_rating: float | None = None
    rating_count: int = 0
    # installs per day, newest first from day ``stats_day`` (days since 1970-01-01, UTC): trending scores
    installs_by_day: tuple[int, ...] = ()
    stats_day: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def uuid(self) -> str:
        return extension_uuid(self.extension_id)

    @property
    def publisher_uuid(self) -> str:
        return publisher_uuid(self.publisher)

    @property
    def weighted_rating(self) -> float:
        return measures.weighted_rating(self.average_rating, self.rating_count)

    def trending(self, window: str, today: int | None = None) -> float:
        """The ``daily``, ``weekly`` or ``monthly`` trending score (``stats.measures``) as of ``today``."""
        on = measures.today() if today is None else today
        return measures.trending(self.installs_by_day, self.stats_day or on, on, measures.TRENDING_WINDOWS[window])

    @property
    def target_platforms(self) -> frozenset[str]:
        """The platforms the extension supports, as VS Code computes them (docs/protocols/vscode-gallery.md A12)."""
        platforms = {v.target_platform for v in self.versions}
        if WEB_EXTENSION_TAG in self.all_tags:
            platforms.add(WEB)
        return frozenset(platforms)

    @property
    def all_tags(self) -> tuple[str, ...]:
        """The tags as published plus ``__web_extension`` when the newest version runs in the browser."""
        head = self.versions[0] if self.versions else None
        if head is not None and head.web_extension and WEB_EXTENSION_TAG not in self.tags:
            return (*self.tags, WEB_EXTENSION_TAG)
        return self.tags

    @property
    def is_pre_release_only(self) -> bool:
        return self.latest_version is None and self.latest_prerelease is not None

    def head_versions(self) -> tuple[VersionView, ...]:
        """The newest release and the newest pre-release of each target platform, newest first."""
        seen: set[tuple[str, bool]] = set()
        chosen: list[VersionView] = []
        for v in self.versions:
            key = (v.target_platform, v.pre_release)
            if key not in seen:
                seen.add(key)
                chosen.append(v)
        return tuple(chosen)

    def latest_per_platform(self) -> tuple[VersionView, ...]:
        """The newest version (release or pre-release) of each target platform: Open VSX's and the
        Marketplace's answer to ``IncludeLatestVersionOnly``."""
        seen: set[str] = set()
        chosen: list[VersionView] = []
        for v in self.versions:
            if v.target_platform not in seen:
                seen.add(v.target_platform)
                chosen.append(v)
        return tuple(chosen)

    def latest_release_and_prerelease(self) -> tuple[VersionView, ...]:
        """``IncludeLatestPrereleaseAndStableVersionOnly``: the newest pre-release and the newest release of
        each platform, newest first (the same as the head versions)."""
        return self.head_versions()

    def with_versions(self, versions: Iterable[VersionView], *, all_versions: bool) -> ExtensionView:
        return replace(self, versions=sort_versions(versions), all_versions=all_versions)


def sort_versions(versions: Iterable[VersionView]) -> tuple[VersionView, ...]:
    return tuple(sorted(versions, key=lambda v: v.sort_key, reverse=True))


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or ()))


def version_from_item(item: Any) -> VersionView:
    """A ``VersionView`` of a ``catalog.store.VersionItem`` (or an object with the same attributes)."""
    assets = item.assets.as_dict() if hasattr(item.assets, "as_dict") else dict(item.assets or {})
    return VersionView(
        version=item.version, target_platform=item.target_platform or UNIVERSAL, pre_release=bool(item.pre_release),
        published_at=item.published_at, engine=item.engine, asset_base=item.asset_base,
        assets=tuple(sorted(assets)), display_name=item.display_name, description=item.description,
        categories=_strings(item.categories), tags=_strings(item.tags), dependencies=_strings(item.dependencies),
        extension_pack=_strings(item.extension_pack), extension_kind=_strings(item.extension_kind),
        localized_languages=_strings(item.localized_languages),
        enabled_api_proposals=_strings(item.enabled_api_proposals), executes_code=bool(item.executes_code),
        web_extension=bool(item.web_extension), license=item.license, repository=item.repository,
        homepage=item.homepage, bugs=item.bugs, sha256=item.sha256 or "", size=int(item.size or 0),
        published_by=item.published_by or "", signature_key_id=getattr(item, "signature_key_id", None) or None,
    )


def from_items(extension: Any, versions: Iterable[Any], totals: dict[str, Any] | None = None) -> ExtensionView:
    """An ``ExtensionView`` of an ``ExtensionItem`` and its ``VersionItem``s; unpublished versions, and versions
    the publish-time scan holds in quarantine, are left out.

    ``totals`` carries the statistics (``stats.totals.statistics_of``: ``downloads``, ``installs``, ``updates``,
    ``average_rating``, ``rating_count``, ``installs_by_day``, ``stats_day``) when the caller read them.
    """
    totals = totals or {}
    blocked = bool(getattr(extension, "malicious", False))  # an operator's block hides every version
    published = [] if blocked else [version_from_item(v) for v in versions
                                    if getattr(v, "unpublished_at", None) is None
                                    and not getattr(v, "quarantined", False)]
    rating = totals.get("average_rating")
    return ExtensionView(
        extension_id=extension.extension_id, publisher=extension.publisher, name=extension.name,
        display_name=extension.display_name, description=extension.description,
        categories=_strings(extension.categories), tags=_strings(extension.tags),
        latest_version=extension.latest_version, latest_prerelease=extension.latest_prerelease,
        created_at=extension.created_at, updated_at=extension.updated_at, versions=sort_versions(published),
        all_versions=True, deprecated=bool(extension.deprecated), replacement=extension.replacement,
        deprecation_message=extension.deprecation_message,
        unpublished=bool(extension.unpublished) or blocked,
        featured=bool(getattr(extension, "featured", False)), verified=bool(getattr(extension, "verified", False)),
        downloads=int(totals.get("downloads", 0)), installs=int(totals.get("installs", 0)),
        updates=int(totals.get("updates", 0)), average_rating=float(rating) if rating is not None else None,
        rating_count=int(totals.get("rating_count", 0)),
        installs_by_day=tuple(int(n) for n in totals.get("installs_by_day", ())),
        stats_day=int(totals.get("stats_day", 0)),
    )
