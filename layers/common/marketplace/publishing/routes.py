"""Routes of the publish-api function.

- ``{base}/api/publish/uploads``: presigned S3 POST uploads and their status (``marketplace publish``).
- ``{base}/api/publish/extensions/{namespace}/{extension}/unpublish|deprecate``: the owner's lifecycle
  actions (``DELETE .../deprecate`` lifts a deprecation).
- Open VSX's publishing API, for ``ovsx``: ``POST /api/-/publish``, ``POST /api/-/namespace/create``,
  ``GET /api/{namespace}/verify-pat``, with the token in the ``token`` query parameter.
- The Azure DevOps-style API ``vsce`` uses: ``OPTIONS /_apis/gallery`` and ``/_apis/securityroles``
  (location service), the extension lookup, ``POST /_apis/gallery/extensions``, ``PUT .../extensions/{e}``
  and the role assignment behind ``vsce verify-pat``, with the token in Basic auth.

Every route but vsce's location service needs a personal access token (``Authorization: Bearer mkp_...``,
vsce's Basic auth or ``?token=``), checked by the routes' middleware (``SIGNED_IN``, ``platform.middleware``)."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any
from urllib.parse import unquote

from marketplace.catalog import store as catalog
from marketplace.platform import body as bodies
from marketplace.platform import middleware, ratelimit
from marketplace.platform.errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from marketplace.platform.http import json_response, location_value, public_base_url
from marketplace.platform.ratelimit import RateLimit
from marketplace.platform.resources import PUBLISHING_TABLE
from marketplace.platform.router import NextMiddleware, Request, Response, Router
from marketplace.publishing import audit, direct, lifecycle, logos, service, store, tokens, uploads, vsce

router = Router()


def credential(event: Request) -> str | None:
    """The token from ``Authorization: Bearer``, vsce's ``Basic base64(":" + token)``, or ``?token=`` (ovsx).

    A Basic credential that is not base64 is still a credential, so it is refused as not valid rather than as
    missing."""
    scheme, _, value = (event.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            return value.strip()
        return decoded.partition(":")[2]
    return event.get_query_string_value("token")


def authenticate(event: Request) -> service.Principal:
    """The caller's principal. A credential sent in a shape no token has is refused as not valid, not as
    missing: only a request without one is told that a token is required."""
    value = credential(event)
    if value and value.strip() and tokens.parse(value) is None:
        raise Unauthorized(tokens.INVALID)
    return service.authenticate(value)


def _acting(app: Router, next_middleware: NextMiddleware) -> Response:
    """What the request changes is written to the audit log as the token's user's, from its client."""
    caller = middleware.principal(app, service.Principal)
    with audit.acting(audit.Actor(caller.user, audit.client_of(app.current_event.headers.get("user-agent")))):
        return next_middleware(app)


# The middleware of every route but vsce's location service: the caller's personal access token, then who is
# acting for the audit log.
SIGNED_IN = [middleware.authenticated(authenticate), _acting]

CREATION_LIMIT_VAR = "PUBLISHING_CREATION_LIMIT"
CREATION_WINDOW_VAR = "PUBLISHING_CREATION_WINDOW_SECONDS"
DEFAULT_CREATION_LIMIT = 10  # namespaces and tokens a user may create per window
DEFAULT_CREATION_WINDOW = 3600


@functools.cache
def _creation_limit() -> RateLimit:
    return ratelimit.configured(PUBLISHING_TABLE, CREATION_LIMIT_VAR, DEFAULT_CREATION_LIMIT,
                                CREATION_WINDOW_VAR, DEFAULT_CREATION_WINDOW)


def _creator(app: Router) -> str:
    return f"create:{middleware.principal(app, service.Principal).user}"


# Namespace and token creation counted per user, whatever signed them in (a token here, a website session in
# ``web.manage``): a stolen or scripted credential cannot mint names or tokens without bound.
creation_limited = middleware.rate_limited(lambda: _creation_limit(), _creator)
CREATING = [*SIGNED_IN, creation_limited]


def _principal() -> service.Principal:
    """The caller (``SIGNED_IN`` authenticated the token)."""
    return middleware.principal(router, service.Principal)


def _package() -> bytes:
    """A package sent as the body (ovsx, vsce); its size limit and message are ``direct.publish``'s."""
    return bodies.raw_body(router.current_event, max_bytes=bodies.GATEWAY_MAX_BYTES, what="The package")


def _json_body() -> dict[str, Any]:
    body: dict[str, Any] = bodies.json_body(router.current_event)
    return body


@router.post("/api/publish/uploads", middlewares=SIGNED_IN)
def create_upload() -> Response:
    principal = _principal()
    created = uploads.create(principal, _json_body())
    warning = tokens.expiry_warning(principal.expires, tokens.utcnow())
    if warning:
        created["warning"] = warning
    return json_response(201, created, {"Location": location_value(f"/api/publish/uploads/{created['id']}")})


@router.get("/api/publish/uploads/<upload_id>", middlewares=SIGNED_IN)
def get_upload(upload_id: str) -> Response:
    principal = _principal()
    record = store.find_upload(upload_id) if len(upload_id) <= 64 else None
    if record is None or record.user != principal.user:
        raise NotFound(f"no upload {upload_id!r} for this token's user")
    return json_response(200, uploads.view(record), {"Cache-Control": "no-store"})


def _optional_json_body() -> dict[str, Any]:
    body: dict[str, Any] = bodies.json_body(router.current_event, required=False) or {}
    return body


@router.post("/api/publish/extensions/<namespace>/<extension>/unpublish", middlewares=SIGNED_IN)
def unpublish(namespace: str, extension: str) -> Response:
    principal = _principal()
    body = _optional_json_body()
    version, target = body.get("version"), body.get("targetPlatform")
    if not isinstance(version, str | None) or not isinstance(target, str | None):
        raise BadRequest("version and targetPlatform must be strings when given")
    withdrawn = lifecycle.unpublish(principal, namespace, extension, version, target)
    return json_response(200, {"extension": f"{namespace}.{extension}".lower(), "unpublished": withdrawn})


@router.post("/api/publish/extensions/<namespace>/<extension>/deprecate", middlewares=SIGNED_IN)
def deprecate(namespace: str, extension: str) -> Response:
    principal = _principal()
    body = _optional_json_body()
    lifecycle.deprecate(principal, namespace, extension, body.get("replacement"), body.get("message"))
    return json_response(200, {"extension": f"{namespace}.{extension}".lower(), "deprecated": True,
                               "replacement": body.get("replacement")})


@router.delete("/api/publish/extensions/<namespace>/<extension>/deprecate", middlewares=SIGNED_IN)
def undeprecate(namespace: str, extension: str) -> Response:
    principal = _principal()
    lifecycle.undeprecate(principal, namespace, extension)
    return json_response(200, {"extension": f"{namespace}.{extension}".lower(), "deprecated": False})


@router.post("/api/publish/extensions/<namespace>/<extension>/versions/<version>/confirm", middlewares=SIGNED_IN)
def confirm_quarantined(namespace: str, extension: str, version: str) -> Response:
    """An owner confirms a version the publish-time scan holds back (``{"targetPlatform": ...}`` optional)."""
    principal = _principal()
    body = _optional_json_body()
    return json_response(200, lifecycle.confirm_quarantined(principal, namespace, extension, version,
                                                            body.get("targetPlatform")))


def _verdict(record: store.UploadRecord) -> Response:
    """Open VSX's answers: 201 with the extension, or 400 with the reason (``... is already published.``)."""
    from marketplace.catalog import model  # only the body-publishing clients need the serializer
    from marketplace.gallery import openvsx

    if record.status == "published" and record.extension_id and record.version and record.target_platform:
        version = catalog.get_version(record.extension_id, record.version, record.target_platform)
        summary = catalog.get_extension(record.extension_id)
        if version is not None and summary is not None:
            view = model.from_items(summary, catalog.versions(record.extension_id))
            body = openvsx.extension_json(view, model.version_from_item(version),
                                          openvsx.Urls.of(public_base_url(router.current_event.headers)))
            body["success"] = "It can take a couple minutes before the extension version is available"
            return json_response(201, body, {"Location": location_value(body["url"])})
    if record.status == "rejected":
        reason = record.reason or "the package was rejected"
        return json_response(400, {"error": reason, "message": reason})
    if record.status == "quarantined":
        return json_response(202, {"warning": record.reason or "the version is held for review",
                                   "upload": uploads.view(record)})
    return json_response(202, {"success": f"The package is still being validated (upload {record.upload_id}); "
                                          f"check GET /api/publish/uploads/{record.upload_id}",
                               "upload": uploads.view(record)})


@router.post("/api/-/publish", middlewares=SIGNED_IN)
def ovsx_publish() -> Response:
    principal = _principal()
    return _verdict(direct.publish(principal, _package()))


@router.post("/api/-/namespace/create", middlewares=CREATING)
def ovsx_create_namespace() -> Response:
    principal = _principal()
    name = _json_body().get("name")
    if not isinstance(name, str):
        raise BadRequest('the body must be {"name": "<namespace>"}')
    service.create_namespace_for(principal, name)
    return json_response(201, {"success": f"Created namespace {name}, owned by {principal.user}; the token that "
                                          f"created it does not cover it: publish to it with a token that names it"})


def _token_json(view: service.TokenView) -> dict[str, Any]:
    return {"id": view.token_id, "user": view.user, "namespaces": list(view.namespaces), "state": view.state,
            "description": view.description, "created": view.created_at.isoformat(),
            "expires": view.expires.isoformat(),
            "lastUsed": view.last_used_at.isoformat() if view.last_used_at else None,
            "warning": view.warning}


@router.get("/api/publish/tokens", middlewares=SIGNED_IN)
def list_tokens() -> Response:
    """The caller's own tokens (never their values), oldest first."""
    views = service.list_tokens(_principal().user)
    return json_response(200, {"tokens": [_token_json(v) for v in views]}, {"Cache-Control": "no-store"})


@router.post("/api/publish/tokens", middlewares=CREATING)
def create_token() -> Response:
    """A new token for the caller, within the calling token's own scope (shown once)."""
    body = _json_body()
    scope, days, description = body.get("namespaces"), body.get("days"), body.get("description")
    if not isinstance(scope, list) or not all(isinstance(n, str) for n in scope):
        raise BadRequest('"namespaces" must be a list of namespace names')
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise BadRequest('"days" must be a whole number of days')
    if description is not None and (not isinstance(description, str) or len(description) > 200):
        raise BadRequest('"description" must be text of at most 200 characters')
    value, view = service.create_token_for(_principal(), scope, days=days, description=description)
    return json_response(201, {"token": value, "id": view.token_id, "namespaces": sorted(view.namespaces),
                               "expires": view.expires.isoformat(),
                               "message": "store the token now: it is shown once"}, {"Cache-Control": "no-store"})


@router.delete("/api/publish/tokens/<token_id>", middlewares=SIGNED_IN)
def revoke_token(token_id: str) -> Response:
    view = service.revoke_token_of(_principal(), token_id)
    return json_response(200, _token_json(view), {"Cache-Control": "no-store"})


@router.get("/api/publish/stats/<namespace>/<extension>", middlewares=SIGNED_IN)
def extension_statistics(namespace: str, extension: str) -> Response:
    """An extension's statistics for the owners of its namespace: totals, ratings, trending, and per day its
    events and activation times; ``?format=csv`` gives the days as CSV, ``&by=version`` the versions instead
    (``version, downloads, installs, updates, uninstalls``)."""
    query = router.current_event.get_query_string_value
    by = lifecycle.statistics_grouping(query("by"))
    report = lifecycle.statistics(_principal(), namespace, extension)
    if query("format") != "csv":
        return json_response(200, report, {"Cache-Control": "no-store"})
    filename, text = lifecycle.statistics_csv(report, by)
    return Response(200, "text/csv; charset=utf-8", text,
                    {"Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/api/publish/namespaces/<namespace>", middlewares=SIGNED_IN)
def namespace_details(namespace: str) -> Response:
    return json_response(200, service.namespace_details(_principal(), namespace), {"Cache-Control": "no-store"})


@router.put("/api/publish/namespaces/<namespace>", middlewares=SIGNED_IN)
def update_namespace_details(namespace: str) -> Response:
    return json_response(200, service.update_namespace_details(_principal(), namespace, _json_body()))


@router.put("/api/publish/namespaces/<namespace>/logo", middlewares=SIGNED_IN)
def set_namespace_logo(namespace: str) -> Response:
    """An owner sets the logo: the image is the body, with its Content-Type (``publishing.logos``)."""
    if bodies.media_type(router.current_event) not in logos.CONTENT_TYPES.values():
        types = ", ".join(logos.CONTENT_TYPES.values())
        raise UnsupportedMediaType(f"send the logo as the body with Content-Type {types}: {logos.ACCEPTED}")
    try:
        data = bodies.raw_body(router.current_event, max_bytes=logos.MAX_BYTES, what="The logo")
    except PayloadTooLarge:
        raise PayloadTooLarge(f"the logo is larger than {logos.MAX_BYTES} bytes: {logos.ACCEPTED}") from None
    return json_response(200, service.set_namespace_logo(_principal(), namespace, data), {"Cache-Control": "no-store"})


@router.delete("/api/publish/namespaces/<namespace>/logo", middlewares=SIGNED_IN)
def remove_namespace_logo(namespace: str) -> Response:
    return json_response(200, service.set_namespace_logo(_principal(), namespace, None), {"Cache-Control": "no-store"})


@router.post("/api/publish/namespaces/<namespace>/members", middlewares=SIGNED_IN)
def add_member(namespace: str) -> Response:
    body = _json_body()
    user, role = body.get("user"), body.get("role", "contributor")
    if not isinstance(user, str) or not isinstance(role, str):
        raise BadRequest('send {"user": "<user>", "role": "owner" or "contributor"}')
    service.add_member_by(_principal(), namespace, user, role)
    return json_response(201, service.namespace_details(_principal(), namespace))


@router.delete("/api/publish/namespaces/<namespace>/members/<user>", middlewares=SIGNED_IN)
def remove_member(namespace: str, user: str) -> Response:
    service.remove_member_by(_principal(), namespace, unquote(user))
    return json_response(200, {"success": f"{unquote(user)} is no longer a member of {namespace}"})


@router.get("/api/publish/audit/<namespace>", middlewares=SIGNED_IN)
def audit_log(namespace: str) -> Response:
    """The namespace's audit log, newest first, for its owners (``?limit=``, at most 1000)."""
    limit_text = router.current_event.get_query_string_value("limit") or "100"
    if not limit_text.isdigit():
        raise BadRequest("limit must be a number from 1 to 1000")
    entries = service.audit_log_for(_principal(), namespace, int(limit_text))
    return json_response(200, {"namespace": namespace, "entries": [e.as_json() for e in entries]},
                         {"Cache-Control": "no-store"})


@router.get("/api/<namespace>/verify-pat", middlewares=SIGNED_IN)
def ovsx_verify_pat(namespace: str) -> Response:
    principal = _principal()
    service.authorize(principal, namespace)
    return json_response(200, {"success": f"Valid access token for namespace {namespace}."})


@router.route("/_apis/gallery", method="OPTIONS")
def vsce_gallery_locations() -> Response:
    return json_response(200, vsce.locations(vsce.GALLERY_LOCATIONS))


@router.route("/_apis/securityroles", method="OPTIONS")
def vsce_security_role_locations() -> Response:
    return json_response(200, vsce.locations(vsce.SECURITY_ROLE_LOCATIONS))


@router.get("/_apis/gallery/publishers/<publisher>/extensions/<extension>", middlewares=SIGNED_IN)
def vsce_get_extension(publisher: str, extension: str) -> Response:
    found = catalog.get_extension(f"{publisher}.{extension}")
    if found is None:
        raise NotFound(f"extension {publisher}.{extension} does not exist")
    return json_response(200, vsce.published_extension(found, catalog.versions(found.extension_id)))


def _vsce_publish() -> Response:
    record = direct.publish(_principal(), _package())
    if record.status == "published" and record.extension_id:
        found = catalog.get_extension(record.extension_id)
        if found is not None:
            return json_response(200, vsce.published_extension(found, catalog.versions(found.extension_id)))
    if record.status == "rejected":
        reason = record.reason or "the package was rejected"
        status = 409 if reason.endswith("is already published.") else 400
        return json_response(status, {"message": reason, "typeKey": "InvalidPackageException"})
    return json_response(202, {"message": f"The package is still being validated (upload {record.upload_id})"})


@router.post("/_apis/gallery/extensions", middlewares=SIGNED_IN)
def vsce_create_extension() -> Response:
    return _vsce_publish()


@router.put("/_apis/gallery/publishers/<publisher>/extensions/<extension>", middlewares=SIGNED_IN)
def vsce_update_extension(publisher: str, extension: str) -> Response:
    return _vsce_publish()


@router.get("/_apis/securityroles/scopes/gallery.publisher/roleassignments/resources/<publisher>",
            middlewares=SIGNED_IN)
def vsce_role_assignments(publisher: str) -> Response:
    principal = _principal()
    service.authorize(principal, publisher)
    member = store.get_member(publisher, principal.user)
    return json_response(200, vsce.role_assignments(principal.user, member.role if member else "contributor"))
