"""Routes of the Open VSX read API under ``{base}/api`` (docs/protocols/open-vsx.md), for ``ovsx get``
and Open VSX-style web clients: namespaces, extensions by version or target platform, version lists, files,
search, query and the registry version.

The handlers stay HTTP: ``gallery.service`` reads the extensions table (exact lookups: an extension, a
version, ``-/query``) and the in-memory search index (search); ``gallery.openvsx`` parses and shapes. Other
functions own ``/api/publish/*``, ``POST /api/-/publish``, ``POST /api/-/namespace/create``,
``GET /api/{ns}/verify-pat``, the reviews and ``/api/telemetry``: API Gateway never sends those here, so they
are not defined.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import marketplace
from marketplace.catalog.ids import UNIVERSAL
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.gallery import downloads, openvsx, service
from marketplace.platform import body as bodies
from marketplace.platform.errors import MarketplaceError
from marketplace.platform.http import json_response, public_base_url, redirect
from marketplace.platform.router import Response, Router

router = Router()

NO_CACHE = {"Cache-Control": "no-cache, public"}
CACHED = {"Cache-Control": "max-age=600, public"}
NO_STORE = {"Cache-Control": "no-store"}
QUERY_FIELDS = ("namespaceName", "extensionName", "extensionVersion", "extensionId", "extensionUuid",
                "namespaceUuid", "includeAllVersions", "targetPlatform", "size", "offset")


def _urls() -> openvsx.Urls:
    return openvsx.Urls.of(public_base_url(router.current_event.headers or {}))


def _params() -> dict[str, str]:
    return dict(router.current_event.query_string_parameters or {})


def _extension_json(view: ExtensionView, version: VersionView, urls: openvsx.Urls, **options: Any) -> dict[str, Any]:
    return openvsx.extension_json(view, version, urls, replacement_display_name=service.replacement_display_name(view),
                                  **options)


@router.get("/api/version")
def registry_version() -> Response:
    return json_response(200, {"version": marketplace.__version__}, CACHED)


# ------------------------------------------------------------------------------------------------ search


@router.get("/api/-/search", compress=True)
def search() -> Response:
    params = openvsx.parse_search(_params())
    total, hits = service.openvsx_search(params)
    urls = _urls()
    entries = [entry for entry in (openvsx.search_entry(view, urls, all_versions=every,
                                                        target_platform=params.target_platform)
                                   for view, every in hits) if entry is not None]
    return json_response(200, openvsx.result(entries, params.offset, total), NO_CACHE)


# ------------------------------------------------------------------------------------------------- query


def _query(v2: bool) -> Response:
    query = openvsx.parse_query(_params(), v2=v2)
    pairs = [(view, version) for view in service.openvsx_query_views(query)
             for version in openvsx.query_versions(view, query)]
    urls = _urls()
    with_links = query.include_all_versions == "links" or not v2
    entries = [_extension_json(view, version, urls, target_platform=query.target_platform, all_versions=with_links,
                               with_downloads=False)
               for view, version in openvsx.page(pairs, query.offset, query.size)]
    return json_response(200, openvsx.result(entries, query.offset, len(pairs)), CACHED)


@router.get("/api/-/query", compress=True)
def query_v1() -> Response:
    return _query(v2=False)


@router.get("/api/v2/-/query", compress=True)
def query_v2() -> Response:
    return _query(v2=True)


@router.post("/api/-/query")
def query_post() -> Response:
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


def _namespace(name: str, *, details: bool) -> Response:
    items = service.openvsx_namespace_extensions(name)
    namespace = items[0].publisher
    verified = any(i.verified for i in items)
    urls = _urls()
    if not details:
        body = openvsx.namespace_json(namespace, sorted(i.name for i in items), verified, urls)
        return json_response(200, body, CACHED)
    views = service.openvsx_namespace_views(items)
    return json_response(200, openvsx.namespace_details_json(namespace, views, verified, urls), NO_CACHE)


def _extension(path: openvsx.ApiPath) -> Response:
    view = service.openvsx_extension(path)
    version = openvsx.path_version(view, path)
    body = _extension_json(view, version, _urls(), target_platform=path.target_platform)
    pinned = path.version is not None and path.version not in openvsx.ALIASES
    return json_response(200, body, CACHED if pinned else NO_CACHE)


def _listing(path: openvsx.ApiPath) -> Response:
    params = _params()
    size = min(openvsx.integer(params, "size", openvsx.DEFAULT_PAGE), openvsx.MAX_PAGE)
    offset = openvsx.integer(params, "offset", 0)
    view = service.openvsx_extension(path, with_statistics=False)
    shape = openvsx.versions_json if path.kind == "versions" else openvsx.version_references_json
    return json_response(200, shape(view, path.target_platform, _urls(), offset, size), NO_CACHE)


def _empty(status: int) -> Response:
    return Response(status_code=status, content_type="text/plain", body="", headers=NO_STORE)


def _file(path: openvsx.ApiPath) -> Response:
    """A file of a version: the package is counted and sent to the CDN, the digest answered here, the other
    files sent to the CDN. Anything missing is a 404 with an empty body, as Open VSX answers (B8)."""
    if path.target_platform is None:  # file URLs leave universal out (docs/protocols/open-vsx.md B2)
        path = replace(path, target_platform=UNIVERSAL)
    try:
        view = service.openvsx_extension(path, with_statistics=False)
        version = openvsx.path_version(view, path)
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
def read(namespace: str) -> Response:
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
