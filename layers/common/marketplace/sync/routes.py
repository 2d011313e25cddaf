"""Routes of the sync function: the Settings Sync store under ``{base}/sync/v1``
(docs/protocols/settings-sync.md).

Every route is authenticated (``Authorization: Bearer`` with ``X-Account-Type``) and counted against the
user's rate limit by its middlewares (``SIGNED_IN``, ``platform.middleware``) before it touches the store.
ETags are the bare refs the client sends back in ``If-Match``/``If-None-Match``; the manifest's ETag is a
digest of its content.
"""

from __future__ import annotations

import functools

from marketplace.identity import Principal, authenticate
from marketplace.platform import body, middleware
from marketplace.platform.config import setting_int
from marketplace.platform.http import json_response
from marketplace.platform.ratelimit import RateLimit
from marketplace.platform.resources import SYNC_TABLE
from marketplace.platform.router import Response, Router
from marketplace.sync import protocol
from marketplace.sync.crypto import KmsDataKeys
from marketplace.sync.protocol import NO_REF, ROOT
from marketplace.sync.service import SyncService

router = Router()

BASE_PATH = "/sync"
V1 = f"{BASE_PATH}/v1"
MAX_BODY_VAR = "SYNC_MAX_BODY_BYTES"
RATE_LIMIT_VAR = "SYNC_RATE_LIMIT"
RATE_WINDOW_VAR = "SYNC_RATE_WINDOW_SECONDS"
DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_RATE_LIMIT = 600  # VS Code itself stops at 100 requests per 5 minutes per window
DEFAULT_RATE_WINDOW = 60
# Sync data is private and changes under the client: never stored by a browser, proxy or the CDN.
NO_STORE = {"Cache-Control": "no-store"}
TEXT = "text/plain; charset=utf-8"


@functools.cache
def service() -> SyncService:
    return SyncService(KmsDataKeys())


@functools.cache
def _rate_limit() -> RateLimit:
    return RateLimit(SYNC_TABLE, setting_int(RATE_LIMIT_VAR, DEFAULT_RATE_LIMIT),
                     setting_int(RATE_WINDOW_VAR, DEFAULT_RATE_WINDOW))


def _user_of(app: Router) -> str:
    return middleware.principal(app, Principal).user_id


# Every route's middlewares: the caller is authenticated, then counted against its rate limit.
SIGNED_IN = [middleware.authenticated(lambda event: authenticate(event.headers)),
             middleware.rate_limited(lambda: _rate_limit(), _user_of)]


def _header(name: str) -> str | None:
    """A request header in any case (Powertools' ``headers`` ignore case)."""
    return router.current_event.headers.get(name)


def _user() -> str:
    """The caller's user id (authenticated and counted by ``SIGNED_IN``)."""
    return _user_of(router)


def _body(resource: str) -> str:
    """A resource's content: UTF-8 text, gzip-compressed or not, at most the store's limit once decompressed."""
    limit = setting_int(MAX_BODY_VAR, DEFAULT_MAX_BODY)
    data = body.raw_body(router.current_event, max_bytes=limit, encodings=body.GZIP, what=f"The {resource} body")
    return protocol.decode_body(data)


def _empty(status: int, etag: str | None = None) -> Response:
    headers = dict(NO_STORE)
    if etag is not None:
        headers["ETag"] = etag
    return Response(status_code=status, content_type=None, body="", headers=headers)


def _text(body: str, etag: str | None = None) -> Response:
    headers = dict(NO_STORE)
    if etag is not None:
        headers["ETag"] = etag
    return Response(status_code=200, content_type=TEXT, body=body, headers=headers)


def _json(body: object, etag: str | None = None) -> Response:
    headers = dict(NO_STORE)
    if etag is not None:
        headers["ETag"] = etag
    return json_response(200, body, headers)


# --- manifest and everything ------------------------------------------------------------------------------


@router.get(f"{V1}/manifest", middlewares=SIGNED_IN)
def manifest() -> Response:
    user = _user()
    found = service().manifest(user)
    if found is None:
        return _empty(204, NO_REF)
    etag = found.etag()
    if protocol.matches(_header("If-None-Match"), etag):
        return _empty(304, etag)
    return _json(found.body(), etag)


@router.delete(f"{V1}/resource", middlewares=SIGNED_IN)
def delete_everything() -> Response:
    service().reset(_user())
    return _empty(204)


@router.get(f"{V1}/download/latest", middlewares=SIGNED_IN)
def download_latest() -> Response:
    return _json(service().latest_data(_user()))


# --- resources, in the root scope and in collections -------------------------------------------------------


def _read_latest(scope: str, resource: str) -> Response:
    user = _user()
    document = service().read_latest(user, scope, protocol.resource_name(resource))
    if document is None:
        return _empty(204, NO_REF)
    if protocol.matches(_header("If-None-Match"), document.ref):
        return _empty(304, document.ref)
    return _text(document.content, document.ref)


def _ref(scope: str, resource: str, ref: str) -> Response:
    if ref == "latest":
        return _read_latest(scope, resource)
    user = _user()
    name = protocol.resource_name(resource)
    if router.current_event.http_method == "DELETE":
        service().delete_ref(user, scope, name, ref)
        return _empty(204)
    return _text(service().read_ref(user, scope, name, ref), ref)


def _resource(scope: str, resource: str) -> Response:
    user = _user()
    name = protocol.resource_name(resource)
    method = router.current_event.http_method
    if method == "GET":
        refs = service().list_refs(user, scope, name)
        if not refs:
            return _empty(204)
        return _json(protocol.ref_list(BASE_PATH, scope, name, refs))
    if method == "DELETE":
        service().delete_resource(user, scope, name)
        return _empty(204)
    content = _body(name)
    ref = service().write(user, scope, name, content, _header("If-Match"))
    return _empty(200, ref)


@router.route(f"{V1}/resource/<resource>", method=["GET", "POST", "DELETE"], middlewares=SIGNED_IN)
def resource(resource: str) -> Response:
    return _resource(ROOT, resource)


@router.route(f"{V1}/resource/<resource>/<ref>", method=["GET", "DELETE"], middlewares=SIGNED_IN)
def resource_ref(resource: str, ref: str) -> Response:
    return _ref(ROOT, resource, ref)


@router.route(f"{V1}/collection/<collection>/resource/<resource>", method=["GET", "POST", "DELETE"],
              middlewares=SIGNED_IN)
def collection_resource(collection: str, resource: str) -> Response:
    return _resource(protocol.collection_id(collection), resource)


@router.route(f"{V1}/collection/<collection>/resource/<resource>/<ref>", method=["GET", "DELETE"],
              middlewares=SIGNED_IN)
def collection_resource_ref(collection: str, resource: str, ref: str) -> Response:
    return _ref(protocol.collection_id(collection), resource, ref)


# --- collections --------------------------------------------------------------------------------------------


@router.get(f"{V1}/collection", middlewares=SIGNED_IN)
def list_collections() -> Response:
    return _json([{"id": cid} for cid in service().list_collections(_user())])


@router.post(f"{V1}/collection", middlewares=SIGNED_IN)
def create_collection() -> Response:
    collection = service().create_collection(_user())
    return Response(status_code=200, content_type=TEXT, body=collection, headers=dict(NO_STORE))


@router.delete(f"{V1}/collection", middlewares=SIGNED_IN)
def delete_collections() -> Response:
    service().delete_collections(_user())
    return _empty(204)


@router.delete(f"{V1}/collection/<collection>", middlewares=SIGNED_IN)
def delete_collection(collection: str) -> Response:
    service().delete_collection(_user(), protocol.collection_id(collection))
    return _empty(204)
