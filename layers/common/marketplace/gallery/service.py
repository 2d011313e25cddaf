"""``extensionquery`` and the latest-version lookup: which extensions answer a query, in what order.

Lookups by id or UUID (the install and update path) read the extensions table, so a version is installable
the moment its record is written and an unpublished one is gone at once. Text search and browsing read the
in-memory search index that the search snapshot keeps current (seconds behind the table).

The Open VSX read API (``gallery.openvsx_routes``) reads through the ``openvsx_*`` functions below, on the
same rules: exact lookups and ``-/query`` read the table, search reads the index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marketplace.catalog import reader, table
from marketplace.catalog.ids import EXTENSION_ID, TARGET_PLATFORMS, is_uuid
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.catalog.rows import ExtensionRow
from marketplace.catalog.semver import Version, is_valid
from marketplace.gallery import downloads, openvsx, serialize
from marketplace.gallery.query import Filter, Flags, parse
from marketplace.platform.errors import BadRequest, NotFound
from marketplace.stats.events import Kind

_WORD = re.compile(r"[\w-]+", re.UNICODE)


def _matches_text(view: ExtensionView, text: str) -> bool:
    haystack = " ".join([view.extension_id, view.display_name or "", view.description or "", *view.tags]).lower()
    return all(word in haystack for word in _WORD.findall(text.lower()))


def _keep(view: ExtensionView, flt: Filter) -> bool:
    """The other criteria of a lookup: every given type must match (values of one type are OR-ed)."""
    if not view.versions:
        return False
    if flt.tags and not {t.lower() for t in view.all_tags} & {t.lower() for t in flt.tags}:
        return False
    if flt.categories and not {c.lower() for c in view.categories} & {c.lower() for c in flt.categories}:
        return False
    if flt.featured and not view.featured:
        return False
    return not (flt.text and not _matches_text(view, flt.text))


_SORT_KEYS: dict[str, Any] = {
    "installs": lambda v: v.installs,
    "downloads": lambda v: v.downloads,
    "updated": lambda v: v.updated_at,
    "published": lambda v: v.created_at,
    "title": lambda v: (v.display_name or v.name).lower(),
    "publisher": lambda v: (v.publisher.lower(), (v.display_name or v.name).lower()),
    "rating": lambda v: (v.average_rating or 0.0, v.rating_count),
    "weighted_rating": lambda v: v.weighted_rating,
    "trending_daily": lambda v: (v.trending("daily"), v.installs),
    "trending_weekly": lambda v: (v.trending("weekly"), v.installs),
    "trending_monthly": lambda v: (v.trending("monthly"), v.installs),
}


def _lookup(flt: Filter) -> tuple[int, list[ExtensionView]]:
    # a value that cannot be an id finds nothing; DynamoDB would refuse a key over 2048 bytes with an error
    ids = [n for n in flt.extension_names if EXTENSION_ID.fullmatch(n)]
    uuids = [u for u in flt.extension_ids if is_uuid(u)]
    if uuids:
        ids += reader.ids_for_uuids(uuids)
    found = [v for v in reader.load_many(ids) if _keep(v, flt)]
    if flt.sort != "relevance" and flt.sort_given:
        found.sort(key=_SORT_KEYS[flt.sort], reverse=flt.descending)
    return len(found), found[flt.offset: flt.offset + flt.page_size]


def _search(flt: Filter, flags: Flags) -> tuple[int, list[ExtensionView]]:
    # loaded on the first search: installs, updates and downloads never touch the index
    from marketplace.search.index import SearchRequest
    from marketplace.search.loader import current_index

    request = SearchRequest(text=flt.text, tags=flt.tags, categories=flt.categories, featured=flt.featured,
                            sort=flt.sort, descending=flt.descending, offset=flt.offset, limit=flt.page_size)
    found = current_index().search(request)
    views = list(found.views)
    if flags & Flags.INCLUDE_VERSIONS and views:
        # the snapshot holds head versions only: every version comes from the table
        complete = {v.extension_id: v for v in reader.load_many([v.extension_id for v in views],
                                                                with_statistics=False)}
        views = [v.with_versions(complete[v.extension_id].versions, all_versions=True)
                 for v in views if v.extension_id in complete]
    return found.total, views


def run_filter(flt: Filter, flags: Flags) -> tuple[int, list[ExtensionView]]:
    if not flt.targets_code or flt.page_size == 0:
        return 0, []
    if flt.is_lookup:
        return _lookup(flt)
    return _search(flt, flags)


def extension_query(body: object, base_url: str) -> dict[str, Any]:
    """The full ``extensionquery`` answer for a parsed JSON body (``BadRequest`` when it is malformed)."""
    query = parse(body)
    urls = serialize.Urls.of(base_url)
    results = []
    for flt in query.filters:
        total, views = run_filter(flt, query.flags)
        results.append(serialize.result([serialize.extension_json(v, query.flags, urls) for v in views], total))
    return {"results": results}


LATEST_FLAGS = (Flags.INCLUDE_LATEST_PRERELEASE_AND_STABLE_VERSION_ONLY | Flags.INCLUDE_FILES
                | Flags.INCLUDE_VERSION_PROPERTIES | Flags.INCLUDE_ASSET_URI | Flags.INCLUDE_STATISTICS
                | Flags.INCLUDE_CATEGORY_AND_TAGS)


def latest(publisher: str, name: str, base_url: str) -> dict[str, Any] | None:
    """One raw extension with its newest release and pre-release per platform (docs/protocols/vscode-gallery.md A6)."""
    extension_id = f"{publisher}.{name}"
    view = reader.load(extension_id) if EXTENSION_ID.fullmatch(extension_id) else None
    if view is None or not view.versions:
        return None
    return serialize.extension_json(view, LATEST_FLAGS, serialize.Urls.of(base_url))


def find_version(view: ExtensionView, version: str, target_platform: str | None) -> Any:
    """The published ``version`` (``latest`` allowed) for ``target_platform``: the exact platform when given
    (falling back to the universal build), else the universal build, else the only build there is."""
    if version == "latest":
        usable = [v for v in view.versions
                  if v.target_platform in ("universal", target_platform) or not target_platform]
        releases = [v for v in usable if not v.pre_release] or usable
        if not releases:
            return None
        version = max((v.version for v in releases), key=Version)
    builds = [v for v in view.versions if v.version == version]
    if target_platform:
        exact = [v for v in builds if v.target_platform == target_platform]
        if exact:
            return exact[0]
    universal = [v for v in builds if v.target_platform == "universal"]
    if universal:
        return universal[0]
    if len(builds) == 1 and not target_platform:
        return builds[0]
    return None


# --- one extension, one version: assets, packages, web resources and statistics --------------------------

# statType as VS Code sends it, and as web clients do (numbers)
STAT_TYPES: dict[str, Kind] = {"install": "install", "1": "install", "uninstall": "uninstall", "3": "uninstall"}


def target_platform(value: str | None) -> str | None:
    """A ``targetPlatform`` parameter: None when there is none (clients also send ``undefined``, ``unknown``)."""
    if value in (None, "", "undefined", "unknown"):
        return None
    if value not in TARGET_PLATFORMS:
        raise BadRequest(f"targetPlatform {value!r} is not one of {', '.join(sorted(TARGET_PLATFORMS))}")
    return value


def published_extension(extension_id: str) -> ExtensionView:
    """The extension with its published versions (no statistics); NotFound when it has none."""
    view = reader.load(extension_id, with_statistics=False) if EXTENSION_ID.fullmatch(extension_id) else None
    if view is None or not view.versions:
        raise NotFound(f"Extension {extension_id} not found")
    return view


def choose_version(view: ExtensionView, version: str, target_platform: str | None) -> VersionView:
    """``find_version``, or why not: a version built per platform needs one named (400), else NotFound."""
    found = find_version(view, version, target_platform)
    if found is not None:
        return found  # type: ignore[no-any-return]
    builds = sorted(v.target_platform for v in view.versions if v.version == version)
    if builds and not target_platform:
        raise BadRequest(f"{view.extension_id} {version} is built per platform ({', '.join(builds)}): "
                         "name one with ?targetPlatform=")
    where = f" for {target_platform}" if target_platform else ""
    raise NotFound(f"Version {version}{where} of {view.extension_id} not found")


def record_stat(extension_id: str, version: str, stat_type: str | None, headers: Mapping[str, str] | None) -> Kind:
    """Count an install or uninstall of a published version (never of a blocked or unpublished extension)."""
    kind = STAT_TYPES.get((stat_type or "").lower())
    if kind is None:
        raise BadRequest("statType must be install or uninstall (1 or 3 from web clients)")
    summary = table.summary(extension_id) if EXTENSION_ID.fullmatch(extension_id) else None
    if summary is None or summary.unpublished or summary.malicious:
        raise NotFound(f"Extension {extension_id} not found")
    if not is_valid(version) or not table.published_targets(extension_id, version):
        raise NotFound(f"Version {version} of {extension_id} not found")
    downloads.record_download(extension_id, version, None, kind, headers)
    return kind


# --- the Open VSX read API: the extensions and versions its answers are built from -------------------------

INDEX_PAGE = 1000  # extensions per page when a query walks the search index

SearchHit = tuple[ExtensionView, tuple[VersionView, ...] | None]


def openvsx_search(params: openvsx.SearchParams) -> tuple[int, list[SearchHit]]:
    """``-/search``: the total and the page of extensions the search index finds, each with every published
    version read from the table when ``includeAllVersions`` asks for them (else ``None``)."""
    from marketplace.search.index import SearchRequest  # loaded on the first search
    from marketplace.search.loader import current_index

    request = SearchRequest(text=params.query, tags=(), categories=(params.category,) if params.category else (),
                            target_platform=params.target_platform, featured=False, pre_release=None,
                            sort=params.sort, descending=params.descending, offset=params.offset,
                            limit=params.size)
    found = current_index().search(request)
    views = list(found.views)
    if not params.include_all_versions:
        return found.total, [(view, None) for view in views]
    complete: dict[str, ExtensionView] = {}
    if views:
        # the index holds head versions only: every version comes from the table
        complete = {v.extension_id: v for v in reader.load_many([v.extension_id for v in views],
                                                                with_statistics=False)}
    # one gone from the table since the snapshot was taken is left out
    return found.total, [(view, complete[view.extension_id].versions) for view in views
                         if view.extension_id in complete]


def openvsx_indexed_ids(query: openvsx.QueryParams) -> list[str]:
    """Ids of published extensions with the queried name or in the queried namespace UUID, found by walking
    the search index (it holds every published extension; a name narrows the walk to the extensions with
    that word in their title). The table then answers for them."""
    from marketplace.search.index import SearchRequest
    from marketplace.search.loader import current_index

    index = current_index()
    found: list[str] = []
    offset = 0
    while True:
        page = index.search(SearchRequest(text=query.extension, offset=offset, limit=INDEX_PAGE))
        for view in page.views:
            if query.extension and view.name.lower() != query.extension.lower():
                continue
            if query.namespace_uuid and view.publisher_uuid != query.namespace_uuid.lower():
                continue
            found.append(view.extension_id)
        offset += INDEX_PAGE
        if not page.views or offset >= page.total:
            return found


def openvsx_query_views(query: openvsx.QueryParams) -> list[ExtensionView]:
    """The extensions a ``-/query`` names, read from the table, in id order (``InvalidParameter`` when it
    names nothing to look up)."""
    if any(name and not openvsx.valid_name(name) for name in (query.namespace, query.extension)) or any(
            value and not openvsx.valid_uuid(value) for value in (query.extension_uuid, query.namespace_uuid)):
        return []  # names nothing that can exist
    if query.extension_uuid:
        ids = reader.ids_for_uuids([query.extension_uuid])
    elif query.namespace and query.extension:
        ids = [f"{query.namespace}.{query.extension}"]
    elif query.namespace:
        ids = [i.extension_id for i in reader.extensions_in_namespace(query.namespace)
               if not i.unpublished and not i.malicious]
    elif query.extension or query.namespace_uuid:
        ids = openvsx_indexed_ids(query)
    else:
        raise openvsx.InvalidParameter("Name what to look up: 'extensionId', 'extensionUuid', 'namespaceName', "
                                       "'namespaceUuid' or 'extensionName'.")
    ids = [i for i in ids if EXTENSION_ID.fullmatch(i)]
    views = reader.load_all(ids)
    keep = [v for v in views if v.versions]
    if query.namespace:
        keep = [v for v in keep if v.publisher.lower() == query.namespace.lower()]
    if query.extension:
        keep = [v for v in keep if v.name.lower() == query.extension.lower()]
    if query.namespace_uuid:
        keep = [v for v in keep if v.publisher_uuid == query.namespace_uuid.lower()]
    return sorted(keep, key=lambda v: v.extension_id)


def openvsx_namespace_extensions(name: str) -> list[ExtensionRow]:
    """The visible (neither unpublished nor blocked) extension summaries of a namespace, by name; ``Missing``
    when there are none or the name cannot exist."""
    items = reader.extensions_in_namespace(name) if openvsx.valid_name(name) else []
    items = [i for i in items if not i.unpublished and not i.malicious]
    if not items:
        raise openvsx.namespace_not_found(name)
    return items


def openvsx_namespace_views(items: list[ExtensionRow]) -> list[ExtensionView]:
    """The extensions of ``items`` that have a published version, read from the table."""
    return [v for v in reader.load_all([i.extension_id for i in items]) if v.versions]


def openvsx_extension(path: openvsx.ApiPath, *, with_statistics: bool = True) -> ExtensionView:
    """The extension a path names, with its published versions; ``Missing`` when it has none."""
    view = None
    if openvsx.valid_name(path.namespace) and openvsx.valid_name(path.extension):
        view = reader.load(f"{path.namespace}.{path.extension}", with_statistics=with_statistics)
    if view is None or not view.versions:
        raise openvsx.extension_not_found(path.namespace, path.extension)
    return view


def replacement_display_name(view: ExtensionView) -> str | None:
    """What editors show for a deprecated extension's replacement, read from the table; ``None`` when the
    extension is not deprecated, names no replacement, or the replacement does not exist."""
    return reader.display_name(view.replacement) if view.deprecated and view.replacement else None
