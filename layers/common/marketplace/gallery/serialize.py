"""The raw gallery extension object VS Code reads (docs/protocols/vscode-gallery.md A4), shaped by the query's flags.

Rules the clients depend on: ``flags`` is always a string; ``versions`` are newest first; a version lists
only asset types that can be fetched at ``{assetUri}/{type}`` and ``{fallbackAssetUri}/{type}``; the Engine,
PreRelease, ExtensionDependencies, ExtensionPack, ExtensionKind and WebExtension properties are present so the
client need not download manifests; a web extension carries the ``__web_extension`` tag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from marketplace.catalog.ids import UNIVERSAL
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.gallery.query import TARGET, Flags

PACKAGE = "Microsoft.VisualStudio.Services.VSIXPackage"
MANIFEST = "Microsoft.VisualStudio.Code.Manifest"
WEB_RESOURCES = "Microsoft.VisualStudio.Code.WebResources"
VSIX_SIGNATURE = "Microsoft.VisualStudio.Services.VsixSignature"
REPOSITORY_SIGNATURE = "Marketplace.RepositorySignature"

_P = "Microsoft.VisualStudio.Code."
ENGINE = _P + "Engine"
PRE_RELEASE = _P + "PreRelease"
DEPENDENCIES = _P + "ExtensionDependencies"
PACK = _P + "ExtensionPack"
KIND = _P + "ExtensionKind"
LANGUAGES = _P + "LocalizedLanguages"
PROPOSALS = _P + "EnabledApiProposals"
EXECUTES_CODE = _P + "ExecutesCode"
WEB_EXTENSION = _P + "WebExtension"
SOURCE = "Microsoft.VisualStudio.Services.Links.Source"
SUPPORT = "Microsoft.VisualStudio.Services.Links.Support"
LEARN = "Microsoft.VisualStudio.Services.Links.Learn"

VERSION_FLAGS = Flags.INCLUDE_VERSIONS | Flags.INCLUDE_LATEST_VERSION_ONLY | \
    Flags.INCLUDE_LATEST_PRERELEASE_AND_STABLE_VERSION_ONLY
# Without a version flag the Marketplace still answers these with the latest version to hang them on.
NEEDS_A_VERSION = Flags.INCLUDE_FILES | Flags.INCLUDE_VERSION_PROPERTIES | Flags.INCLUDE_ASSET_URI

# plain ints: IntFlag arithmetic costs microseconds per test, and a page tests flags hundreds of times
_VERSIONS = int(Flags.INCLUDE_VERSIONS)
_HEADS = int(Flags.INCLUDE_LATEST_PRERELEASE_AND_STABLE_VERSION_ONLY)
_LATEST = int(Flags.INCLUDE_LATEST_VERSION_ONLY)
_FILES = int(Flags.INCLUDE_FILES)
_PROPERTIES = int(Flags.INCLUDE_VERSION_PROPERTIES)
_ASSET_URI = int(Flags.INCLUDE_ASSET_URI)
_CATEGORIES = int(Flags.INCLUDE_CATEGORY_AND_TAGS)
_STATISTICS = int(Flags.INCLUDE_STATISTICS)
_TARGETS = int(Flags.INCLUDE_INSTALLATION_TARGETS)
_NEEDS_A_VERSION = int(NEEDS_A_VERSION)


def advertise_signature() -> bool:
    """Whether versions list ``VsixSignature``. Off by default: desktop VS Code verifies a listed signature
    with Microsoft's format and refuses ours; code-server's web UI enables Install only when it is listed and
    never verifies it (docs/protocols/code-server.md §4), so an operator serving only such editors may turn it on."""
    return os.environ.get("GALLERY_ADVERTISE_VSIX_SIGNATURE", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Urls:
    """Where a response points: the CDN for ``assetUri``, the API for ``fallbackAssetUri``."""

    base: str  # the public origin (the CDN's domain; the API is behind the same distribution)
    service: str  # ``{base}/_apis/public/gallery``

    @classmethod
    def of(cls, base: str) -> Urls:
        base = base.rstrip("/")
        return cls(base, f"{base}/_apis/public/gallery")

    def asset_uri(self, version: VersionView) -> str:
        return f"{self.base}/{version.asset_base}"

    def fallback_asset_uri(self, extension: ExtensionView, version: VersionView) -> str:
        return f"{self.service}/assets/{_quote(extension.publisher)}/{_quote(extension.name)}/{_quote(version.version)}"


@lru_cache(maxsize=65536)
def _quote(segment: str) -> str:
    return quote(segment)


@lru_cache(maxsize=65536)
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def listed_assets(version: VersionView) -> list[str]:
    """Asset types a client may fetch for ``version``: the stored ones, without the web-resource folder and
    with our repository signature under VS Code's name only when the operator asks for it."""
    listed = [a for a in version.assets if a not in (WEB_RESOURCES, REPOSITORY_SIGNATURE)]
    if REPOSITORY_SIGNATURE in version.assets and advertise_signature():
        listed.append(VSIX_SIGNATURE)
    return listed


def properties(version: VersionView) -> list[dict[str, str]]:
    values: list[tuple[str, str]] = [
        (ENGINE, version.engine),
        (DEPENDENCIES, ",".join(version.dependencies)),
        (PACK, ",".join(version.extension_pack)),
        (KIND, ",".join(version.extension_kind)),
        (LANGUAGES, ",".join(version.localized_languages)),
        (EXECUTES_CODE, "true" if version.executes_code else "false"),
    ]
    if version.enabled_api_proposals:
        values.append((PROPOSALS, ",".join(version.enabled_api_proposals)))
    if version.pre_release:
        values.append((PRE_RELEASE, "true"))
    if version.web_extension:
        values.append((WEB_EXTENSION, "true"))
    if version.repository:
        values.append((SOURCE, version.repository))
    if version.bugs:
        values.append((SUPPORT, version.bugs))
    if version.homepage:
        values.append((LEARN, version.homepage))
    return [{"key": k, "value": v} for k, v in values]


def select_versions(extension: ExtensionView, flags: int) -> tuple[VersionView, ...]:
    """The versions a response carries for these flags (newest first)."""
    if flags & _VERSIONS:
        return extension.versions
    if flags & _HEADS:
        return extension.head_versions()
    if flags & _LATEST or flags & _NEEDS_A_VERSION:
        return extension.latest_per_platform()
    return ()


def version_json(extension: ExtensionView, version: VersionView, flags: int, urls: Urls) -> dict[str, Any]:
    out: dict[str, Any] = {"version": version.version, "flags": "validated", "lastUpdated": iso(version.published_at)}
    if version.target_platform != UNIVERSAL:
        out["targetPlatform"] = version.target_platform
    if flags & _FILES:
        cdn = urls.asset_uri(version)
        out["files"] = [{"assetType": a, "source": f"{cdn}/{a}"} for a in listed_assets(version)]
    if flags & _PROPERTIES:
        out["properties"] = properties(version)
    if flags & _ASSET_URI:
        out["assetUri"] = urls.asset_uri(version)
        out["fallbackAssetUri"] = urls.fallback_asset_uri(extension, version)
    return out


def statistics(extension: ExtensionView, today: int | None = None) -> list[dict[str, Any]]:
    """The Marketplace's statistics (docs/protocols/vscode-gallery.md A4.6); the formulas are in ``stats.measures``.
    VS Code reads ``install``, ``averagerating`` and ``ratingcount``; the rating ones are left out for an
    unrated extension, as the Marketplace and Open VSX do (the client then shows no rating)."""
    stats: list[dict[str, Any]] = [
        {"statisticName": "install", "value": extension.installs},
        {"statisticName": "updateCount", "value": extension.updates},
        {"statisticName": "downloadCount", "value": extension.downloads},
    ]
    if extension.rating_count and extension.average_rating is not None:
        stats += [{"statisticName": "averagerating", "value": extension.average_rating},
                  {"statisticName": "ratingcount", "value": extension.rating_count},
                  {"statisticName": "weightedRating", "value": extension.weighted_rating}]
    stats += [{"statisticName": f"trending{name}", "value": extension.trending(name, today)}
              for name in ("daily", "weekly", "monthly")]
    return stats


def weighted_rating(extension: ExtensionView) -> float:
    """``weightedRating``: the Bayesian average of ``stats.measures.weighted_rating``."""
    return extension.weighted_rating


def extension_json(extension: ExtensionView, flags: int, urls: Urls,
                   versions: tuple[VersionView, ...] | None = None) -> dict[str, Any]:
    flags = int(flags)
    chosen = select_versions(extension, flags) if versions is None else versions
    head = extension.versions[0] if extension.versions else None
    out: dict[str, Any] = {
        "publisher": {
            "publisherId": extension.publisher_uuid,
            "publisherName": extension.publisher,
            "displayName": extension.publisher,
            "flags": "verified" if extension.verified else "none",
            "domain": None,
            "isDomainVerified": False,
        },
        "extensionId": extension.uuid,
        "extensionName": extension.name,
        "displayName": extension.display_name or extension.name,
        "flags": "validated, public" + (", preview" if extension.is_pre_release_only else ""),
        "lastUpdated": iso(extension.updated_at),
        "publishedDate": iso(extension.created_at),
        "releaseDate": iso(extension.created_at),
        "shortDescription": extension.description or "",
        "versions": [version_json(extension, v, flags, urls) for v in chosen],
        "deploymentType": 0,
    }
    if flags & _CATEGORIES:
        out["categories"] = list(extension.categories)
        out["tags"] = list(extension.all_tags)
    if flags & _STATISTICS:
        out["statistics"] = statistics(extension)
    if flags & _TARGETS:
        out["installationTargets"] = [{"target": TARGET, "targetVersion": ""}]
    if head is None:
        out["versions"] = []
    return out


def result(extensions: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """One entry of ``results``: the page and its ``TotalCount`` (the client indexes it without a guard)."""
    return {
        "extensions": extensions,
        "pagingToken": None,
        "resultMetadata": [{"metadataType": "ResultCount", "metadataItems": [{"name": "TotalCount", "count": total}]}],
    }
