"""Open VSX's user API, the calls its web UI makes for a signed-in user, in Open VSX's shapes.

- ``GET /user`` (``200 {"error": "Not logged in."}`` without a credential) and ``GET /user/csrf``
- ``GET /user/tokens``, ``POST /user/token/create?description=``, ``POST /user/token/delete/{id}``
- ``GET /user/namespaces``, ``GET /user/namespace/{ns}/members``,
  ``POST /user/namespace/{ns}/role?user=&role=[&provider=]``, ``POST /user/namespace/{ns}/details``

Open VSX authenticates these with a session; here the caller's personal access token does, as on every publishing
route (``routes.SIGNED_IN``), and every answer is within what that token covers. Errors are Open VSX's
``{"error": "..."}`` (with the same text as ``message``) and its status codes. The shapes, and where they differ
from Open VSX's: docs/protocols/open-vsx.md B9."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from marketplace.platform import body as bodies
from marketplace.platform import middleware
from marketplace.platform.errors import BadRequest, Conflict, Forbidden, MarketplaceError, NotFound
from marketplace.platform.http import json_response, public_base_url, quote_path
from marketplace.platform.router import NextMiddleware, Response, Router
from marketplace.publishing import namespaces, service, store
from marketplace.publishing.routes import CREATING, SIGNED_IN, credential

router = Router()
T = TypeVar("T")

PROVIDER = "marketplace"  # the ``provider`` of every user: the marketplace's own, not a login provider's
DESCRIPTION_MAX = 255  # Open VSX's longest token description
NO_STORE = {"Cache-Control": "no-store"}  # every answer is about the caller
REFUSED = (BadRequest, Forbidden, NotFound, Conflict)  # what Open VSX answers 400 (its ErrorResultException)
# What the details call may carry that this registry does not keep, or (a logo) takes through another call:
# refused unless empty.
UNKEPT_DETAILS = ("supportLink", "socialLinks", "logoBytes")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Open VSX's error (``error``, what its clients show), with the same text as ``message``, the key every
    other answer of this API carries it in."""
    return json_response(status, {"error": message, "message": message}, {**NO_STORE, **(headers or {})})


def _ok(status: int, body: object) -> Response:
    return json_response(status, body, NO_STORE)


class _Refused(Exception):
    """A refusal answered with Open VSX's status for the call rather than ours (``_refusal``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _openvsx_errors(app: Router, next_middleware: NextMiddleware) -> Response:
    """Every error of these routes, the token's included, in Open VSX's body (its clients show ``error``)."""
    try:
        return next_middleware(app)
    except _Refused as refused:
        return _error(refused.status, refused.message)
    except MarketplaceError as error:
        return _error(error.status, error.message, error.headers)


def _refusal(status: int, call: Callable[[], T]) -> T:
    """``call()``, its refusals answered with ``status`` (Open VSX's for that call) instead of ours."""
    try:
        return call()
    except REFUSED as error:
        raise _Refused(status, error.message) from error


def _signed_out(app: Router, next_middleware: NextMiddleware) -> Response:
    """``GET /user`` tells a caller without a credential that no one is signed in, with a 200, as Open VSX
    does; a credential that is not a valid token is refused as on every route."""
    value = credential(app.current_event)
    if not (value and value.strip()):
        return _ok(200, {"error": "Not logged in."})
    return next_middleware(app)


USER = [_openvsx_errors, *SIGNED_IN]
USER_CREATING = [_openvsx_errors, *CREATING]


def _principal() -> service.Principal:
    return middleware.principal(router, service.Principal)


def _url(*segments: str) -> str:
    base = public_base_url(router.current_event.headers).rstrip("/")
    return "/".join([base, *(quote_path(s).replace("/", "%2F") for s in segments)])


def _timestamp(moment: datetime) -> str:
    """Open VSX's times: UTC, with milliseconds and a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _param(name: str) -> str | None:
    return router.current_event.get_query_string_value(name)


def _user_json(user: str) -> dict[str, Any]:
    """A UserJson for one of our users: a login name and the provider; no full name, avatar or homepage."""
    return {"loginName": user, "provider": PROVIDER}


# --------------------------------------------------------------------------------------------- the user


@router.get("/user", middlewares=[_openvsx_errors, _signed_out, *SIGNED_IN])
def user() -> Response:
    return _ok(200, {**_user_json(_principal().user), "tokensUrl": _url("user", "tokens"),
                     "createTokenUrl": _url("user", "token", "create")})


@router.get("/user/csrf")
def csrf() -> Response:
    """There is no session, so no CSRF token: Open VSX's answer when it has none (its web UI then sends none)."""
    return _ok(200, {"error": "Token is not available."})


# ------------------------------------------------------------------------------------------- tokens


def _token_json(view: service.TokenView) -> dict[str, Any]:
    body: dict[str, Any] = {"id": view.token_id, "createdTimestamp": _timestamp(view.created_at),
                            "expiresTimestamp": _timestamp(view.expires), "notified": False,
                            "deleteTokenUrl": _url("user", "token", "delete", view.token_id),
                            "namespaces": list(view.namespaces)}
    if view.last_used_at is not None:
        body["accessedTimestamp"] = _timestamp(view.last_used_at)
    if view.description is not None:
        body["description"] = view.description
    return body


@router.get("/user/tokens", middlewares=USER)
def tokens() -> Response:
    """The caller's active tokens (never their values), oldest first."""
    views = service.list_tokens(_principal().user)
    return _ok(200, [_token_json(v) for v in views if v.state == "active"])


@router.post("/user/token/create", middlewares=USER_CREATING)
def create_token() -> Response:
    """A new token for the caller, covering what the calling token covers or, with ``namespaces=a,b``, less
    (shown once). Open VSX's tokens are the user's whole account; ours never reach past the token that asks."""
    principal = _principal()
    description = _param("description")
    if description is not None and len(description) > DESCRIPTION_MAX:
        return _error(400, f"The description must not be longer than {DESCRIPTION_MAX} characters.")
    wanted = _param("namespaces")
    scope = sorted(principal.namespaces) if wanted is None else [n.strip() for n in wanted.split(",") if n.strip()]
    value, view = _refusal(400, lambda: service.create_token_for(principal, scope, description=description or None))
    return _ok(201, {**_token_json(view), "value": value})


@router.post("/user/token/delete/<token_id>", middlewares=USER)
def delete_token(token_id: str) -> Response:
    """Revoke one of the caller's active tokens; any other (another user's, revoked, expired) does not exist."""
    principal = _principal()
    try:
        view = service.token_of(principal, token_id)
    except NotFound:
        view = None
    if view is None or view.state != "active":
        return _error(404, "Token does not exist.")
    service.revoke_token_of(principal, token_id)
    return _ok(200, {"success": f"Deactivated access token for user {principal.user}."})


# --------------------------------------------------------------------------------------- namespaces


def _extensions(namespace: str) -> dict[str, str]:
    """The namespace's visible extensions, name → their Open VSX URL."""
    from marketplace.catalog import reader  # only this route reads the catalog's namespace index

    rows = [r for r in reader.extensions_in_namespace(namespace) if not r.unpublished and not r.malicious]
    return {r.name: _url("api", namespace, r.name) for r in sorted(rows, key=lambda r: r.name)}


@router.get("/user/namespaces", middlewares=USER)
def own_namespaces() -> Response:
    """The namespaces the token covers and its user belongs to; the links to manage one are an owner's only."""
    answers = []
    for namespace, member in service.memberships_of(_principal()):
        body: dict[str, Any] = {"name": namespace.name, "extensions": _extensions(namespace.name),
                                "verified": bool(namespace.verified)}
        if member.role == "owner":
            body |= {"membersUrl": _url("user", "namespace", namespace.name, "members"),
                     "roleUrl": _url("user", "namespace", namespace.name, "role"),
                     "detailsUrl": _url("user", "namespace", namespace.name, "details")}
        answers.append(body)
    return _ok(200, answers)


@router.get("/user/namespace/<namespace>/members", middlewares=USER)
def members(namespace: str) -> Response:
    """The members, for an owner of the namespace (Open VSX shows them to owners only)."""
    principal = _principal()
    _refusal(403, lambda: service.require_owner(principal, namespace, "see its members"))
    found = service.namespace_details(principal, namespace)["members"]
    return _ok(200, {"namespaceMemberships": [{"namespace": namespace, "role": m["role"],
                                               "user": _user_json(m["user"])} for m in found]})


@router.post("/user/namespace/<namespace>/role", middlewares=USER)
def role(namespace: str) -> Response:
    """An owner adds a member (``role=owner|contributor``), changes a member's role, or removes one
    (``role=remove``); never the last owner."""
    principal = _principal()
    user, wanted, provider = _param("user"), _param("role"), _param("provider")
    if not user or not wanted:
        return _error(400, "The parameters 'user' and 'role' are required.")
    if provider not in (None, "", PROVIDER):
        return _error(400, f"User not found: {provider}/{user}")
    if wanted == "remove":
        _refusal(400, lambda: service.remove_member_by(principal, namespace, user))
        return _ok(200, {"success": f"Removed {user} from namespace {namespace}."})
    if wanted not in service.ROLES:
        return _error(400, f"Invalid role: {wanted}")
    done = _refusal(400, lambda: service.set_role_by(principal, namespace, user, wanted))
    if done == "added":
        return _ok(200, {"success": f"Added {user} as {wanted} of {namespace}."})
    return _ok(200, {"success": f"Changed role of {user} in {namespace} to {wanted}."})


def _exists(namespace: str) -> bool:
    try:
        namespaces.validate(namespace)
    except namespaces.InvalidName:
        return False  # no such namespace can exist, and its name is no key to look up
    return store.get_namespace(namespace) is not None


def _unkept(value: object) -> bool:
    """Whether a field this registry does not keep carries something (an empty one is what the UI sends)."""
    if isinstance(value, dict):
        return any(v not in (None, "") for v in value.values())
    return value not in (None, "")


@router.post("/user/namespace/<namespace>/details", middlewares=USER)
def details(namespace: str) -> Response:
    """An owner replaces the details (Open VSX's NamespaceDetailsJson): ``displayName``, ``description`` and
    ``website``, each removed when missing, ``null`` or empty. The other fields of the shape are read-only or
    not kept here (a ``logo`` is ignored: the web UI sends back what it read, and a logo is set with
    ``PUT /api/publish/namespaces/{ns}/logo`` or on the website; a non-empty ``supportLink``, ``socialLinks`` or
    ``logoBytes`` is refused); nothing changes on a refusal."""
    principal = _principal()
    body = bodies.json_body(router.current_event)
    name = body.get("name")
    if name is not None and name != namespace:
        return _error(400, f"The details name namespace {name!r}, the path {namespace!r}.")
    if not _exists(namespace):
        return _error(404, f"Namespace not found: {namespace}")
    unkept = [field for field in UNKEPT_DETAILS if _unkept(body.get(field))]
    if unkept:
        hint = (f" A logo is set with PUT /api/publish/namespaces/{namespace}/logo (the image as the body) or on the "
                "website." if "logoBytes" in unkept else "")
        return _error(400, f"This registry does not keep {', '.join(unkept)} for a namespace; send them empty.{hint}")
    changes = {key: None if body.get(key) in (None, "") else body.get(key) for key in service.DETAILS}
    _refusal(400, lambda: service.update_namespace_details(principal, namespace, changes))
    return _ok(200, {"success": f"Updated details for namespace {namespace}"})
