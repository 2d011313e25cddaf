"""The Open VSX REST API's shapes and rules (docs/protocols/open-vsx.md), on the shared read model.

Pure Python: ``gallery.service`` reads the catalog and the search index, ``gallery.openvsx_routes`` hands the
views to the functions here, which parse paths and parameters and build ``ExtensionJson``, ``SearchEntryJson``,
``NamespaceJson``, ``VersionsJson``, ``VersionReferencesJson`` and the result envelopes.

Open VSX's version rules, followed here: ``latest`` is the newest version of any kind (its ``pre-release``
alias is the newest version published as a pre-release); among builds of one version number the universal
one comes first, then the platforms by name; a file URL without a platform names the universal build (URLs
leave ``universal`` out); null fields are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote

from marketplace.catalog.ids import ID_PART, TARGET_PLATFORMS, UNIVERSAL, is_uuid
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.catalog.semver import Version, is_valid
from marketplace.gallery.serialize import MANIFEST, PACKAGE, REPOSITORY_SIGNATURE, iso
from marketplace.platform.errors import MarketplaceError
from marketplace.platform.resources import PACKAGES_BUCKET

LATEST = "latest"
PRE_RELEASE = "pre-release"
ALIASES = (LATEST, PRE_RELEASE)
ACCESS = "restricted"  # Open VSX's deprecated ``namespaceAccess``/``access``: always this value
DEFAULT_PAGE = 18  # search, versions and version-references
QUERY_PAGE = 100  # the query endpoints
MAX_PAGE = 100  # larger sizes are clamped: an answer stays well inside a Lambda response
ALL_VERSIONS_LIMIT = 100  # ``allVersions`` and ``allTargetPlatformVersions`` hold the most recent this many
MAX_INT = 2**31 - 1  # Open VSX reads paging parameters as Java ints
MAX_NAME = 128  # longer namespace or extension segments name nothing

DETAILS = "Microsoft.VisualStudio.Services.Content.Details"
CHANGELOG = "Microsoft.VisualStudio.Services.Content.Changelog"
LICENSE = "Microsoft.VisualStudio.Services.Content.License"
ICON = "Microsoft.VisualStudio.Services.Icons.Default"
VSIXMANIFEST = "Microsoft.VisualStudio.Services.VsixManifest"

DOWNLOAD = "download"
SHA256 = "sha256"
SIGNATURE = "signature"
PUBLIC_KEY = "publicKey"
# Where the repository's public keys are published (``publishing.signing.public_key_key``): with ``publicKey``
# next to ``signature``, a mirror (another instance of this marketplace) verifies what it copies.
SIGNING_KEYS = f"{PACKAGES_BUCKET.public_prefix}-/signing/"
# Open VSX's file keys (``files`` map, OU ``FileResource``) and the asset each is stored as. ``sha256`` is not
# stored: it is answered from the version's digest.
FILE_ASSETS: dict[str, str | None] = {
    DOWNLOAD: PACKAGE,
    "manifest": MANIFEST,
    "readme": DETAILS,
    "changelog": CHANGELOG,
    "license": LICENSE,
    "icon": ICON,
    "vsixmanifest": VSIXMANIFEST,
    SIGNATURE: REPOSITORY_SIGNATURE,
    SHA256: None,
}
_FIXED_NAMES = {"manifest": "package.json", "readme": "README.md", "changelog": "CHANGELOG.md",
                "license": "LICENSE.txt", "icon": "icon", "vsixmanifest": "extension.vsixmanifest"}
_SUFFIXES = {DOWNLOAD: ".vsix", SHA256: ".sha256", SIGNATURE: ".sigzip"}
# Keys that stay on the API (counted, or answered there); the other files point straight at the CDN.
API_FILES = (DOWNLOAD, SHA256)

SORT_BY = {"relevance": "relevance", "timestamp": "updated", "rating": "rating", "averageRating": "rating",
           "downloadCount": "downloads"}


class OpenVsxError(MarketplaceError):
    """An error with Open VSX's body, ``{"error": "..."}`` (``ovsx`` prints ``message`` or ``error``)."""

    def body(self) -> dict[str, object]:
        return {"error": self.message}


class InvalidParameter(OpenVsxError):
    status = 400
    code = "bad_request"


class Missing(OpenVsxError):
    status = 404
    code = "not_found"


def extension_not_found(namespace: str, extension: str) -> Missing:
    return Missing(f"Extension not found: {namespace}.{extension}")


def namespace_not_found(namespace: str) -> Missing:
    return Missing(f"Namespace not found: {namespace}")


def valid_name(segment: str) -> bool:
    """A namespace or extension name that can exist (the id grammar the ingest enforces)."""
    return len(segment) <= MAX_NAME and ID_PART.fullmatch(segment) is not None


def valid_uuid(value: str) -> bool:
    """An extension or namespace UUID that can exist: the catalog's rule, the gallery's too."""
    return is_uuid(value)


# ------------------------------------------------------------------------------------------------- paths

Kind = Literal["namespace", "details", "extension", "versions", "version-references", "file"]
_LISTS: tuple[Kind, ...] = ("versions", "version-references")


@dataclass(frozen=True)
class ApiPath:
    """What a ``GET /api/...`` path asks for (docs/protocols/open-vsx.md B1, B1.1)."""

    kind: Kind
    namespace: str
    extension: str = ""
    target_platform: str | None = None
    version: str | None = None  # a version number or an alias
    file_name: str = ""


def is_version(segment: str) -> bool:
    return segment in ALIASES or is_valid(segment)


def is_platform(segment: str) -> bool:
    return segment in TARGET_PLATFORMS


def parse_path(path: str) -> ApiPath | None:
    """The read route a path under ``/api/`` names, or ``None`` when it has no such shape. A version and a
    target platform are both one segment; their grammars do not overlap, which tells them apart."""
    if not path.startswith("/api/"):
        return None
    segments = [unquote(s) for s in path[len("/api/"):].split("/")]
    if any(not s for s in segments[:2]):
        return None
    namespace = segments[0]
    if len(segments) == 1:
        return ApiPath("namespace", namespace)
    if len(segments) == 2 and segments[1] == "details":
        return ApiPath("details", namespace)
    extension, rest = segments[1], segments[2:]
    platform: str | None = None
    if rest and is_platform(rest[0]):
        platform, rest = rest[0], rest[1:]
    if not rest:
        return ApiPath("extension", namespace, extension, platform)
    head = rest[0]
    if len(rest) == 1 and head in _LISTS:
        return ApiPath(head, namespace, extension, platform)
    if not is_version(head):
        return None
    if len(rest) == 1:
        return ApiPath("extension", namespace, extension, platform, head)
    if rest[1] == "file" and len(rest) > 2 and all(rest[2:]):
        return ApiPath("file", namespace, extension, platform, head, "/".join(rest[2:]))
    return None


# -------------------------------------------------------------------------------------------- parameters


def integer(params: Mapping[str, str], name: str, default: int) -> int:
    text = (params.get(name) or "").strip()
    if not text:
        return default
    if not (text.lstrip("-").isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
        raise InvalidParameter(f"The parameter '{name}' must be an integer.")
    value = int(text)
    if value < 0:
        raise InvalidParameter(f"The parameter '{name}' must not be negative.")
    if value > MAX_INT:
        raise InvalidParameter(f"The parameter '{name}' must be at most {MAX_INT}.")
    return value


def boolean(params: Mapping[str, str], name: str, default: bool) -> bool:
    text = (params.get(name) or "").strip().lower()
    if not text:
        return default
    if text not in ("true", "false"):
        raise InvalidParameter(f"The parameter '{name}' must be 'true' or 'false'.")
    return text == "true"


def platform_parameter(params: Mapping[str, str]) -> str | None:
    """``targetPlatform`` of search and query: an unknown value is ignored, as Open VSX does."""
    value = (params.get("targetPlatform") or "").strip()
    return value if is_platform(value) else None


@dataclass(frozen=True)
class SearchParams:
    query: str
    category: str | None
    target_platform: str | None
    size: int
    offset: int
    sort: str  # the search index's sort key
    descending: bool
    include_all_versions: bool


def parse_search(params: Mapping[str, str]) -> SearchParams:
    size = integer(params, "size", DEFAULT_PAGE)
    offset = integer(params, "offset", 0)
    order = (params.get("sortOrder") or "desc").strip()
    if order not in ("asc", "desc"):
        raise InvalidParameter("The parameter 'sortOrder' must be either 'asc' or 'desc'.")
    sort_by = (params.get("sortBy") or "relevance").strip()
    if sort_by not in SORT_BY:
        raise InvalidParameter("The parameter 'sortBy' must be 'relevance', 'timestamp', 'rating' or 'downloadCount'.")
    return SearchParams(
        query=(params.get("query") or "").strip()[:200], category=(params.get("category") or "").strip() or None,
        target_platform=platform_parameter(params), size=min(size, MAX_PAGE), offset=offset, sort=SORT_BY[sort_by],
        descending=order == "desc", include_all_versions=boolean(params, "includeAllVersions", False))


@dataclass(frozen=True)
class QueryParams:
    namespace: str | None
    extension: str | None
    version: str | None
    extension_uuid: str | None
    namespace_uuid: str | None
    include_all_versions: Literal["true", "false", "links"]
    target_platform: str | None
    size: int
    offset: int

    @property
    def has_criteria(self) -> bool:
        return any((self.namespace, self.extension, self.extension_uuid, self.namespace_uuid))


def _text(params: Mapping[str, str], name: str) -> str | None:
    return (params.get(name) or "").strip() or None


def parse_query(params: Mapping[str, str], *, v2: bool) -> QueryParams:
    namespace, extension = _text(params, "namespaceName"), _text(params, "extensionName")
    extension_id = _text(params, "extensionId")
    if extension_id is not None:
        parts = extension_id.split(".")
        if len(parts) != 2 or not all(parts):
            raise InvalidParameter("The 'extensionId' parameter must have the format 'namespace.extension'.")
        if namespace is not None and namespace != parts[0]:
            raise InvalidParameter("Conflicting parameters 'extensionId' and 'namespaceName'")
        if extension is not None and extension != parts[1]:
            raise InvalidParameter("Conflicting parameters 'extensionId' and 'extensionName'")
        namespace, extension = parts
    version = _text(params, "extensionVersion")
    include: Literal["true", "false", "links"]
    if v2:
        value = (params.get("includeAllVersions") or "links").strip()
        if value not in ("true", "false", "links"):
            raise InvalidParameter(f"Invalid includeAllVersions value: {value}.")
        include = value  # type: ignore[assignment]
        if version is not None and include == "true":
            include = "links"
    else:
        include = "true" if boolean(params, "includeAllVersions", False) and version is None else "false"
    return QueryParams(namespace, extension, version, _text(params, "extensionUuid"), _text(params, "namespaceUuid"),
                       include, platform_parameter(params), min(integer(params, "size", QUERY_PAGE), MAX_PAGE),
                       integer(params, "offset", 0))


# ---------------------------------------------------------------------------------------------- versions


def ordered(versions: Iterable[VersionView]) -> list[VersionView]:
    """Open VSX's order: newest version first; of one version, the universal build, then platforms by name."""
    by_platform = sorted(versions, key=lambda v: (v.target_platform != UNIVERSAL, v.target_platform))
    return sorted(by_platform, key=lambda v: Version(v.version), reverse=True)  # stable: keeps the platform order


def candidates(view: ExtensionView, target_platform: str | None) -> list[VersionView]:
    return [v for v in ordered(view.versions) if target_platform is None or v.target_platform == target_platform]


def latest(versions: Sequence[VersionView], *, pre_release: bool = False) -> VersionView | None:
    """The first of ``versions`` (already ordered), or of its pre-releases."""
    return next((v for v in versions if v.pre_release or not pre_release), None)


def select(view: ExtensionView, target_platform: str | None, version: str | None) -> VersionView | None:
    """The version a path names: ``latest`` when none is given."""
    chosen = candidates(view, target_platform)
    if version in (None, LATEST):
        return latest(chosen)
    if version == PRE_RELEASE:
        return latest(chosen, pre_release=True)
    return next((v for v in chosen if v.version == version), None)


def path_version(view: ExtensionView, path: ApiPath) -> VersionView:
    """The version a path names (``select``), or ``Missing`` naming the extension, version and platform asked."""
    chosen = select(view, path.target_platform, path.version)
    if chosen is None:
        version = f" {path.version}" if path.version else ""
        platform = f" ({path.target_platform})" if path.target_platform else ""
        raise Missing(f"Extension not found: {path.namespace}.{path.extension}{version}{platform}")
    return chosen


def version_strings(versions: Iterable[VersionView]) -> list[str]:
    """Distinct version numbers, newest first (``versions`` already ordered)."""
    return list(dict.fromkeys(v.version for v in versions))


def page(items: Sequence[Any], offset: int, size: int) -> list[Any]:
    return list(items[offset: offset + size]) if size > 0 else []


# -------------------------------------------------------------------------------------------------- urls


def _segments(*parts: str) -> str:
    return "/".join(quote(p, safe="@") for p in parts)  # "@" is legal in a segment: file names keep it


@dataclass(frozen=True)
class Urls:
    """Where an Open VSX answer points: the API under ``{base}/api`` and the CDN on the same origin."""

    base: str

    @classmethod
    def of(cls, base: str) -> Urls:
        return cls(base.rstrip("/"))

    def api(self, *parts: str) -> str:
        return f"{self.base}/api/{_segments(*parts)}"

    def namespace(self, namespace: str) -> str:
        return self.api(namespace)

    def extension(self, namespace: str, name: str) -> str:
        return self.api(namespace, name)

    def _scoped(self, view: ExtensionView, target_platform: str | None, *rest: str) -> str:
        platform = () if target_platform in (None, UNIVERSAL) else (str(target_platform),)
        return self.api(view.publisher, view.name, *platform, *rest)

    def version(self, view: ExtensionView, target_platform: str | None, version: str) -> str:
        """Version metadata; the platform segment is left out for ``universal`` (docs/protocols/open-vsx.md B2)."""
        return self._scoped(view, target_platform, version)

    def listing(self, view: ExtensionView, target_platform: str | None, kind: str) -> str:
        return self._scoped(view, target_platform, kind)

    def file(self, view: ExtensionView, version: VersionView, name: str) -> str:
        return self._scoped(view, version.target_platform, version.version, "file", *name.split("/"))

    def cdn(self, version: VersionView, asset: str) -> str:
        return f"{self.base}/{version.asset_base}/{asset}"


# ------------------------------------------------------------------------------------------------- files


def file_name(view: ExtensionView, version: VersionView, key: str) -> str:
    """The name a file has under ``.../{version}/file/``: Open VSX's ``ns.ext-1.0.0[@platform].vsix`` style for
    the package, its digest and its signature, fixed names for the rest."""
    if key in _SUFFIXES:
        platform = "" if version.target_platform == UNIVERSAL else f"@{version.target_platform}"
        return f"{view.publisher}.{view.name}-{version.version}{platform}{_SUFFIXES[key]}"
    return _FIXED_NAMES[key]


def available(version: VersionView, key: str) -> bool:
    asset = FILE_ASSETS[key]
    return bool(version.sha256) if asset is None else asset in version.assets


def file_key(view: ExtensionView, version: VersionView, requested: str) -> str | None:
    """Which file a requested name is: one of ours, or (as Open VSX allows) a key like ``download``."""
    wanted = requested.lower()
    for key in FILE_ASSETS:
        if wanted in (key, file_name(view, version, key).lower()):
            return key if available(version, key) else None
    return None


def files(view: ExtensionView, version: VersionView, urls: Urls, keys: Iterable[str] = tuple(FILE_ASSETS)
          ) -> dict[str, str]:
    """The ``files`` map: the package and its digest through the API (a download is counted there), the
    other files straight from the CDN."""
    out: dict[str, str] = {}
    for key in keys:
        if not available(version, key):
            continue
        asset = FILE_ASSETS[key]
        if key in API_FILES or asset is None:
            out[key] = urls.file(view, version, file_name(view, version, key))
        else:
            out[key] = urls.cdn(version, asset)
        if key == SIGNATURE and version.signature_key_id:
            out[PUBLIC_KEY] = f"{urls.base}/{SIGNING_KEYS}{quote(version.signature_key_id, safe='')}.pem"
    return out


# ------------------------------------------------------------------------------------------------ shapes


def _reference(urls: Urls, reference: str) -> dict[str, str] | None:
    namespace, dot, name = reference.partition(".")
    if not dot or not namespace or not name:
        return None
    return {"url": urls.extension(namespace, name), "namespace": namespace, "extension": name}


def _references(urls: Urls, references: Iterable[str]) -> list[dict[str, str]]:
    return [r for r in (_reference(urls, ref) for ref in references) if r is not None]


def _all_versions(view: ExtensionView, chosen: Sequence[VersionView], target_platform: str | None,
                  urls: Urls) -> dict[str, str]:
    keys = [a for a, v in ((LATEST, latest(chosen)), (PRE_RELEASE, latest(chosen, pre_release=True))) if v]
    keys += version_strings(chosen)[:ALL_VERSIONS_LIMIT]
    return {key: urls.version(view, target_platform, key) for key in keys}


def _platform_versions(view: ExtensionView) -> list[dict[str, Any]]:
    grouped: dict[str, list[str]] = {}
    for v in ordered(view.versions):
        if v.version in grouped or len(grouped) < ALL_VERSIONS_LIMIT:
            grouped.setdefault(v.version, []).append(v.target_platform)
    return [{"version": number, "targetPlatforms": platforms} for number, platforms in grouped.items()]


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def extension_json(view: ExtensionView, version: VersionView, urls: Urls, *, target_platform: str | None = None,
                   all_versions: bool = True, with_downloads: bool = True,
                   replacement_display_name: str | None = None) -> dict[str, Any]:
    """``ExtensionJson`` of ``version``. ``target_platform`` is the one the request named (it scopes the
    aliases, ``allVersions`` and ``downloads``); ``replacement_display_name`` names a deprecated extension's
    replacement when the caller looked it up."""
    chosen = candidates(view, target_platform)
    aliases = [alias for alias, v in ((LATEST, latest(chosen)), (PRE_RELEASE, latest(chosen, pre_release=True)))
               if v == version]
    replacement = None
    if view.deprecated and view.replacement:
        reference = _reference(urls, view.replacement)
        if reference is not None:
            replacement = {"url": reference["url"], "displayName": replacement_display_name or view.replacement}
    out: dict[str, Any] = {
        "namespaceUrl": urls.namespace(view.publisher),
        "reviewsUrl": urls.api(view.publisher, view.name, "reviews"),
        "files": files(view, version, urls),
        "name": view.name,
        "namespace": view.publisher,
        "targetPlatform": version.target_platform,
        "version": version.version,
        "preRelease": version.pre_release,
        "publishedBy": {"loginName": version.published_by} if version.published_by else None,
        "verified": view.verified,
        "unrelatedPublisher": not view.verified,
        "namespaceAccess": ACCESS,
        "allVersions": _all_versions(view, chosen, target_platform, urls) if all_versions else None,
        "allVersionsUrl": urls.listing(view, target_platform, "versions"),
        "averageRating": view.average_rating,
        "downloadCount": view.downloads,
        "reviewCount": view.rating_count,
        "versionAlias": aliases,
        "timestamp": iso(version.published_at),
        "displayName": version.display_name or view.display_name,
        "description": version.description or view.description,
        "namespaceDisplayName": view.publisher,
        "engines": {"vscode": version.engine} if version.engine else None,
        "categories": list(version.categories or view.categories),
        "tags": list(version.tags or view.tags),
        "extensionKind": list(version.extension_kind),
        "localizedLanguages": list(version.localized_languages),
        "license": version.license,
        "homepage": version.homepage,
        "repository": version.repository,
        "bugs": version.bugs,
        "dependencies": _references(urls, version.dependencies),
        "bundledExtensions": _references(urls, version.extension_pack),
        "downloads": {v.target_platform: urls.file(view, v, file_name(view, v, DOWNLOAD))
                      for v in chosen if v.version == version.version and available(v, DOWNLOAD)}
        if with_downloads else None,
        "allTargetPlatformVersions": _platform_versions(view),
        "url": urls.version(view, version.target_platform, version.version),
        "deprecated": view.deprecated,
        "replacement": replacement,
        "downloadable": True,
    }
    return _drop_none(out)


def version_reference(view: ExtensionView, version: VersionView, urls: Urls) -> dict[str, Any]:
    """``VersionReferenceJson``: enough to fetch one build without reading its metadata."""
    return {
        "url": urls.version(view, version.target_platform, version.version),
        "files": files(view, version, urls, (DOWNLOAD, SHA256, SIGNATURE)),
        "version": version.version,
        "targetPlatform": version.target_platform,
        "engines": {"vscode": version.engine} if version.engine else {},
    }


def search_entry(view: ExtensionView, urls: Urls, *, all_versions: Sequence[VersionView] | None = None,
                 target_platform: str | None = None) -> dict[str, Any] | None:
    """``SearchEntryJson`` of the extension's latest version; ``None`` for one with nothing published.
    ``all_versions`` (every published build, for ``includeAllVersions``) adds the version references."""
    head = latest(ordered(view.versions))
    if head is None:
        return None
    out: dict[str, Any] = {
        "url": urls.extension(view.publisher, view.name),
        "files": files(view, head, urls, (DOWNLOAD, SHA256, SIGNATURE, "icon")),
        "name": view.name,
        "namespace": view.publisher,
        "version": head.version,
        "timestamp": iso(head.published_at),
        "verified": view.verified,
        "averageRating": view.average_rating,
        "reviewCount": view.rating_count,
        "downloadCount": view.downloads,
        "displayName": head.display_name or view.display_name,
        "description": head.description or view.description,
        "deprecated": view.deprecated,
    }
    if all_versions is not None:
        out["allVersions"] = [version_reference(view, v, urls) for v in ordered(all_versions)]
        out["allVersionsUrl"] = urls.listing(view, target_platform, "version-references")
    return _drop_none(out)


def versions_json(view: ExtensionView, target_platform: str | None, urls: Urls, offset: int, size: int
                  ) -> dict[str, Any]:
    numbers = version_strings(candidates(view, target_platform))
    return {"offset": offset, "totalSize": len(numbers),
            "versions": {n: urls.version(view, target_platform, n) for n in page(numbers, offset, size)}}


def version_references_json(view: ExtensionView, target_platform: str | None, urls: Urls, offset: int, size: int
                            ) -> dict[str, Any]:
    chosen = candidates(view, target_platform)
    return {"offset": offset, "totalSize": len(chosen),
            "versions": [version_reference(view, v, urls) for v in page(chosen, offset, size)]}


def namespace_json(namespace: str, extension_names: Iterable[str], verified: bool, urls: Urls) -> dict[str, Any]:
    return {
        "name": namespace,
        "extensions": {name: urls.extension(namespace, name) for name in extension_names},
        "verified": verified,
        "access": ACCESS,
    }


def namespace_details_json(namespace: str, views: Iterable[ExtensionView], verified: bool, urls: Urls
                           ) -> dict[str, Any]:
    """``NamespaceDetailsJson``: the namespace page of the web UI, its extensions most downloaded first."""
    ranked = sorted(views, key=lambda v: (-v.downloads, v.extension_id))
    entries = [e for e in (search_entry(v, urls) for v in ranked) if e is not None]
    return {"name": namespace, "displayName": namespace, "verified": verified, "unrelatedPublisher": not verified,
            "socialLinks": {}, "extensions": entries}


def query_versions(view: ExtensionView, query: QueryParams) -> list[VersionView]:
    """The builds a query returns for one extension: the given version, every version, or the newest of
    each target platform."""
    chosen = candidates(view, query.target_platform)
    if query.version is not None:
        return [v for v in chosen if v.version == query.version]
    if query.include_all_versions == "true":
        return chosen
    newest: dict[str, VersionView] = {}
    for v in chosen:
        newest.setdefault(v.target_platform, v)
    return list(newest.values())


def result(entries: list[dict[str, Any]], offset: int, total: int) -> dict[str, Any]:
    """``SearchResultJson`` / ``QueryResultJson``."""
    return {"offset": offset, "totalSize": total, "extensions": entries}
