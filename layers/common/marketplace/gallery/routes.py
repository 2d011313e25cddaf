"""Routes of the VS Code gallery protocol under ``serviceUrl = {base}/_apis/public/gallery``
(docs/protocols/vscode-gallery.md): ``extensionquery``, the latest-version lookup, assets through the API
(``fallbackAssetUri``), ``vspackage``, web resources (``resourceUrlTemplate``), statistics, the control
manifest and the item/publisher links. The Open VSX read API lives in ``gallery.openvsx_routes``.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import unquote

from marketplace.catalog import reader
from marketplace.catalog.ids import EXTENSION_ID, ID_PART
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.gallery import assets, control, downloads, serialize, service
from marketplace.platform import body
from marketplace.platform.errors import BadRequest, NotFound
from marketplace.platform.headers import ASSET_CONTENT_SECURITY_POLICY
from marketplace.platform.http import json_response, public_base_url, quote_path, redirect
from marketplace.platform.router import Response, Router

router = Router()

SERVICE = "/_apis/public/gallery"
NO_STORE = {"Cache-Control": "no-store"}
ASSET_CACHE = {"Cache-Control": "public, max-age=3600"}
LATEST_CACHE = {"Cache-Control": "public, max-age=60"}
CONTROL_CACHE = {"Cache-Control": "public, max-age=300"}
CONTROL_TTL_SECONDS = 60.0
_VERSION_PLATFORM = re.compile(r"^(?P<version>[^+@]+)(?:[+@](?P<platform>[a-z0-9-]+))?$")


def _base() -> str:
    return public_base_url(router.current_event.headers or {})


def _query() -> dict[str, str]:
    return dict(router.current_event.query_string_parameters or {})


def _extension(publisher: str, name: str) -> ExtensionView:
    return service.published_extension(f"{unquote(publisher)}.{unquote(name)}")


def _version(view: ExtensionView, version: str, target_platform: str | None) -> VersionView:
    return service.choose_version(view, unquote(version), service.target_platform(target_platform))


@router.post(f"{SERVICE}/extensionquery", compress=True)
def extension_query() -> Response:
    # An empty body goes on to the query's own "must be a JSON object" answer, like any other wrong shape.
    query = body.json_body(router.current_event, required=False, expect=None)
    answer = service.extension_query(query, _base())
    return json_response(200, answer, {"activityid": router.current_event.raw_event.get(
        "requestContext", {}).get("requestId", "")})


@router.get(f"{SERVICE}/vscode/<publisher>/<name>/latest", compress=True)
def latest(publisher: str, name: str) -> Response:
    answer = service.latest(unquote(publisher), unquote(name), _base())
    if answer is None:
        raise NotFound(f"Extension {unquote(publisher)}.{unquote(name)} not found")
    return json_response(200, answer, LATEST_CACHE)


def _download(view: ExtensionView, version: VersionView, query: dict[str, str]) -> Response:
    """Count the fetch (never failing it), then send the client to the CDN."""
    downloads.record_download(view.extension_id, version.version, version.target_platform,
                              downloads.event_kind(query), router.current_event.headers)
    return redirect(f"{_base()}/{quote_path(version.asset_base)}/{serialize.PACKAGE}", NO_STORE)


def _serve(key: str | None, missing: str) -> Response:
    stored = assets.read(key) if key else None
    if stored is None:
        raise NotFound(missing)
    if stored.body is None:
        return redirect(f"{_base()}/{quote_path(stored.key)}", ASSET_CACHE)
    body: bytes | str = stored.body
    content_type = stored.content_type
    if content_type.startswith("application/json"):
        # the resolver JSON-encodes a non-str body under a JSON content type (a TypeError for bytes): send text
        try:
            body = stored.body.decode("utf-8")
        except UnicodeDecodeError:
            content_type = "application/octet-stream"
    return Response(status_code=200, content_type=content_type, body=body,
                    headers={**ASSET_CACHE, "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": ASSET_CONTENT_SECURITY_POLICY})


@router.get(f"{SERVICE}/assets/<publisher>/<name>/<version>/<asset_type>")
def asset(publisher: str, name: str, version: str, asset_type: str) -> Response:
    query = _query()
    view = _extension(publisher, name)
    chosen = _version(view, version, query.get("targetPlatform"))
    asset_type = unquote(asset_type)
    if asset_type == serialize.PACKAGE:
        return _download(view, chosen, query)
    return _serve(assets.object_key(chosen, asset_type),
                  f"{view.extension_id} {chosen.version} has no asset {asset_type}")


@router.get(f"{SERVICE}/publishers/<publisher>/vsextensions/<name>/<version>/vspackage")
def vspackage(publisher: str, name: str, version: str) -> Response:
    query = _query()
    view = _extension(publisher, name)
    return _download(view, _version(view, version, query.get("targetPlatform")), query)


def _web_resource(publisher: str, name: str, version_text: str, path: str) -> Response:
    found = _VERSION_PLATFORM.match(unquote(version_text))
    if not found:
        raise NotFound(f"no version {version_text}")
    view = _extension(publisher, name)
    chosen = _version(view, found["version"], found["platform"] or _query().get("targetPlatform"))
    return _serve(assets.web_resource_key(chosen, unquote(path)),
                  f"{view.extension_id} {chosen.version} has no web resource {unquote(path)}")


@router.get(f"{SERVICE}/resources/.+")
def resource() -> Response:
    """``resourceUrlTemplate``: ``{service}/resources/{publisher}/{name}/{version}/{path}`` where VS Code puts
    ``version+targetPlatform`` for platform-specific builds and ``extension/<file>`` as the path."""
    parts = router.current_event.path.split(f"{SERVICE}/resources/", 1)[1].split("/", 3)
    if len(parts) < 4:
        raise NotFound("a resource path is /resources/{publisher}/{name}/{version}/extension/<file>")
    return _web_resource(*parts)


@router.get(f"{SERVICE}/assets/<publisher>/<name>/<version>/{serialize.WEB_RESOURCES}/.+")
def asset_web_resource(publisher: str, name: str, version: str) -> Response:
    path = router.current_event.path.split(f"/{serialize.WEB_RESOURCES}/", 1)[1]
    return _web_resource(publisher, name, version, path)


def _stat(publisher: str, name: str, version: str, stat_type: str | None) -> Response:
    kind = service.record_stat(f"{unquote(publisher)}.{unquote(name)}", unquote(version), stat_type,
                               router.current_event.headers)
    return json_response(200, {"success": True, "statType": kind}, NO_STORE)


@router.post(f"{SERVICE}/publishers/<publisher>/extensions/<name>/<version>/stats")
def stats(publisher: str, name: str, version: str) -> Response:
    return _stat(publisher, name, version, _query().get("statType"))


@router.post(f"{SERVICE}/itemName/<item>/version/<version>/statType/<stat_type>/vscodewebextension")
def web_stats(item: str, version: str, stat_type: str) -> Response:
    publisher, _, name = unquote(item).partition(".")
    if not name:
        raise BadRequest("itemName must be publisher.name")
    return _stat(publisher, name, version, stat_type)


_control_cache: tuple[float, dict[str, Any]] | None = None


@router.get(f"{SERVICE}/control.json")
def control_manifest() -> Response:
    global _control_cache
    now = time.monotonic()
    if _control_cache is None or now - _control_cache[0] > CONTROL_TTL_SECONDS:
        _control_cache = (now, control.manifest(reader.control_entries(), reader.display_name))
    return json_response(200, _control_cache[1], CONTROL_CACHE)


@router.get(f"{SERVICE}/items")
def item() -> Response:
    """Editors configured with the gallery's own ``itemUrl`` (before the website existed) reach its page."""
    found = EXTENSION_ID.fullmatch(_query().get("itemName", ""))
    if found is None:  # only an id can name an item: anything else never reaches the Location header
        raise BadRequest("itemName must be publisher.name (letters, digits and hyphens)")
    return redirect(f"{_base()}/items?itemName={found.group(0)}", LATEST_CACHE, status=301)


@router.get(f"{SERVICE}/publishers/<publisher>")
def publisher_page(publisher: str) -> Response:
    name = unquote(publisher)
    if not ID_PART.fullmatch(name):
        raise BadRequest("a publisher name is letters, digits and hyphens")
    return redirect(f"{_base()}/publishers/{quote_path(name)}", LATEST_CACHE, status=301)
