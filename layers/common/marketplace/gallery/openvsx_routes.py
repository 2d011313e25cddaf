"""Routes of the Open VSX read API under ``{base}/api`` (docs/protocols/open-vsx.md), for ``ovsx get``
and Open VSX-style web clients: namespaces, extensions by version or target platform, version lists, files,
search, query and the registry version.

Exact lookups (an extension, a version, ``-/query``) read the extensions table through ``catalog.reader``;
search reads the in-memory search index. Other functions own ``/api/publish/*``, ``POST /api/-/publish``,
``POST /api/-/namespace/create``, ``GET /api/{ns}/verify-pat``, the reviews and ``/api/telemetry``: API
Gateway never sends those here, so they are not defined.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

import marketplace
from marketplace.catalog import reader
from marketplace.catalog import store as catalog
from marketplace.catalog.ids import EXTENSION_ID, UNIVERSAL
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.gallery import downloads, openvsx
from marketplace.platform import body as bodies
from marketplace.platform.errors import MarketplaceError
from marketplace.platform.http import json_response, public_base_url, redirect

router = Router()

NO_CACHE = {"Cache-Control": "no-cache, public"}
CACHED = {"Cache-Control": "max-age=600, public"}
NO_STORE = {"Cache-Control": "no-store"}
INDEX_PAGE = 1000
QUERY_FIELDS = ("namespaceName", "extensionName", "extensionVersion", "extensionId", "extensionUuid",
                "namespaceUuid", "includeAllVersions", "targetPlatform", "size", "offset")


def _urls() -> openvsx.Urls:
    return openvsx.Urls.of(public_base_url(router.current_event.headers or {}))


def _params() -> dict[str, str]:
    return dict(router.current_event.query_string_parameters or {})


def _extension_json(view: ExtensionView, version: VersionView, urls: openvsx.Urls, **options: Any) -> dict[str, Any]:
    replacement = catalog.display_name(view.replacement) if view.deprecated and view.replacement else None
    return openvsx.extension_json(view, version, urls, replacement_display_name=replacement, **options)


@router.get("/api/version")
def registry_version() -> Response[str]:
    return json_response(200, {"version": marketplace.__version__}, CACHED)


# ------------------------------------------------------------------------------------------------ search


@router.get("/api/-/search", compress=True)
def search() -> Response[str]:
    from marketplace.search.index import SearchRequest  # loaded on the first search
    from marketplace.search.loader import current_index

    params = openvsx.parse_search(_params())
    request = SearchRequest(text=params.query, tags=(), categories=(params.category,) if params.category else (),
                            target_platform=params.target_platform, featured=False, pre_release=None,
                            sort=params.sort, descending=params.descending, offset=params.offset,
                            limit=params.size)
    found = current_index().search(request)
    views = list(found.views)
    complete: dict[str, ExtensionView] = {}
    if params.include_all_versions and views:
        # the index holds head versions only: every version comes from the table
        complete = {v.extension_id: v for v in reader.load_many([v.extension_id for v in views],
                                                                with_statistics=False)}
    urls = _urls()
    entries: list[dict[str, Any]] = []
    for view in views:
        every: tuple[VersionView, ...] | None = None
        if params.include_all_versions:
            if view.extension_id not in complete:
                continue  # gone from the table since the snapshot was taken
            every = complete[view.extension_id].versions
        entry = openvsx.search_entry(view, urls, all_versions=every, target_platform=params.target_platform)
        if entry is not None:
            entries.append(entry)
    return json_response(200, openvsx.result(entries, params.offset, found.total), NO_CACHE)


# ------------------------------------------------------------------------------------------------- query


def _indexed_ids(query: openvsx.QueryParams) -> list[str]:
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


def _query_views(query: openvsx.QueryParams) -> list[ExtensionView]:
    """The extensions a query names, read from the table, in id order."""
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
        ids = _indexed_ids(query)
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


def _query(v2: bool) -> Response[str]:
    query = openvsx.parse_query(_params(), v2=v2)
    pairs = [(view, version) for view in _query_views(query) for version in openvsx.query_versions(view, query)]
    urls = _urls()
    with_links = query.include_all_versions == "links" or not v2
    entries = [_extension_json(view, version, urls, target_platform=query.target_platform, all_versions=with_links,
                               with_downloads=False)
               for view, version in openvsx.page(pairs, query.offset, query.size)]
    return json_response(200, openvsx.result(entries, query.offset, len(pairs)), CACHED)


@router.get("/api/-/query", compress=True)
def query_v1() -> Response[str]:
    return _query(v2=False)


@router.get("/api/v2/-/query", compress=True)
def query_v2() -> Response[str]:
    return _query(v2=True)


@router.post("/api/-/query")
def query_post() -> Response[str]:
    """Open VSX's deprecated POST form: a redirect to the GET form with the body's fields as parameters."""
    try:
        body = bodies.json_body(router.current_event, required=False) or {}
    except MarketplaceError as error:
        if error.status != 400:
            raise
        raise openvsx.InvalidParameter(error.message) from None
    fields = {name: body[name] for name in QUERY_FIELDS if body.get(name) not in (None, "")}
    if any(isinstance(value, dict | list) for value in fields.values()):
        raise openvsx.InvalidParameter("The query fields must be strings, numbers or booleans.")
    text = urlencode({k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in fields.items()})
    location = f"{_urls().api('-', 'query')}" + (f"?{text}" if text else "")
    return redirect(location, {}, status=301)


# ------------------------------------------------------------------------- namespaces, extensions, files


def _namespace(name: str, *, details: bool) -> Response[str]:
    items = reader.extensions_in_namespace(name) if openvsx.valid_name(name) else []
    items = [i for i in items if not i.unpublished and not i.malicious]
    if not items:
        raise openvsx.namespace_not_found(name)
    namespace = items[0].publisher
    verified = any(i.verified for i in items)
    urls = _urls()
    if not details:
        body = openvsx.namespace_json(namespace, sorted(i.name for i in items), verified, urls)
        return json_response(200, body, CACHED)
    views = [v for v in reader.load_all([i.extension_id for i in items]) if v.versions]
    return json_response(200, openvsx.namespace_details_json(namespace, views, verified, urls), NO_CACHE)


def _view(path: openvsx.ApiPath, *, with_statistics: bool = True) -> ExtensionView:
    view = None
    if openvsx.valid_name(path.namespace) and openvsx.valid_name(path.extension):
        view = reader.load(f"{path.namespace}.{path.extension}", with_statistics=with_statistics)
    if view is None or not view.versions:
        raise openvsx.extension_not_found(path.namespace, path.extension)
    return view


def _version(view: ExtensionView, path: openvsx.ApiPath) -> VersionView:
    chosen = openvsx.select(view, path.target_platform, path.version)
    if chosen is None:
        version = f" {path.version}" if path.version else ""
        platform = f" ({path.target_platform})" if path.target_platform else ""
        raise openvsx.Missing(f"Extension not found: {path.namespace}.{path.extension}{version}{platform}")
    return chosen


def _extension(path: openvsx.ApiPath) -> Response[str]:
    view = _view(path)
    version = _version(view, path)
    body = _extension_json(view, version, _urls(), target_platform=path.target_platform)
    pinned = path.version is not None and path.version not in openvsx.ALIASES
    return json_response(200, body, CACHED if pinned else NO_CACHE)


def _listing(path: openvsx.ApiPath) -> Response[str]:
    params = _params()
    size = min(openvsx.integer(params, "size", openvsx.DEFAULT_PAGE), openvsx.MAX_PAGE)
    offset = openvsx.integer(params, "offset", 0)
    view = _view(path, with_statistics=False)
    shape = openvsx.versions_json if path.kind == "versions" else openvsx.version_references_json
    return json_response(200, shape(view, path.target_platform, _urls(), offset, size), NO_CACHE)


def _empty(status: int) -> Response[str]:
    return Response(status_code=status, content_type="text/plain", body="", headers=NO_STORE)


def _file(path: openvsx.ApiPath) -> Response[str]:
    """A file of a version: the package is counted and sent to the CDN, the digest answered here, the other
    files sent to the CDN. Anything missing is a 404 with an empty body, as Open VSX answers (B8)."""
    if path.target_platform is None:  # file URLs leave universal out (docs/protocols/open-vsx.md B2)
        path = replace(path, target_platform=UNIVERSAL)
    try:
        view = _view(path, with_statistics=False)
        version = _version(view, path)
    except openvsx.Missing:
        return _empty(404)
    key = openvsx.file_key(view, version, path.file_name)
    asset = openvsx.FILE_ASSETS.get(key or "")
    if key == openvsx.SHA256:
        return Response(status_code=200, content_type="text/plain; charset=utf-8", body=version.sha256,
                        headers=CACHED)
    if key is None or asset is None:
        return _empty(404)
    if key == openvsx.DOWNLOAD:
        downloads.record_download(view.extension_id, version.version, version.target_platform,
                                  downloads.event_kind(_params()), router.current_event.headers)
        return redirect(_urls().cdn(version, asset), NO_STORE)
    return redirect(_urls().cdn(version, asset), CACHED)


# Registered last: the static routes above win, and this matches every other ``GET /api/...``.
@router.get("/api/<namespace>(?:/.*)?")
def read(namespace: str) -> Response[str]:
    path = openvsx.parse_path(router.current_event.path)
    if path is None:
        raise openvsx.Missing(f"Not found: {router.current_event.path[:300]}")
    if path.kind in ("namespace", "details"):
        return _namespace(path.namespace, details=path.kind == "details")
    if path.kind == "extension":
        return _extension(path)
    if path.kind == "file":
        return _file(path)
    return _listing(path)
