"""The publisher area (``/manage``): a publisher signs in with the configured identity provider and then manages
namespaces, members, tokens, uploads, statistics and the audit log in the browser, through the same publishing
operations the API and the CLI use (``publishing.service``, ``uploads``, ``lifecycle``).

Served by the publish_api function, which owns the publishing table; the pages share the website's templates
and static files (``web.render``). Written once, as route middleware:

- ``SIGNED_IN``: the session cookie must name a live session (``publishing.sessions``); pages send a signed-out
  browser to sign in, anything else answers 401. The session's user acts in the audit log, from ``website``.
- ``CHANGING``: every state-changing request also carries the session's CSRF token (a form's ``csrf`` field or
  the ``X-CSRF-Token`` header) and, when the browser says where it comes from, this site's own origin. The
  session cookie is ``SameSite=Lax`` as well, so another site's form never carries it.
- ``CREATING``: namespace and token creation are also counted per user, as the API's are.

Cookies: ``HttpOnly``, ``SameSite=Lax``, ``Path=/``; on TLS also ``Secure`` with the ``__Host-`` prefix (so no
subdomain can set them).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from marketplace.platform import middleware
from marketplace.platform.body import MULTIPART, Part, form_body, json_body, media_type, multipart_form
from marketplace.platform.errors import BadRequest, Forbidden, NotFound, Unauthorized
from marketplace.platform.headers import request_header
from marketplace.platform.http import json_response, public_base_url
from marketplace.platform.router import Middleware, NextMiddleware, Response, Router
from marketplace.publishing import audit, lifecycle, logos, service, sessions, store, tokens, uploads
from marketplace.publishing.routes import creation_limited
from marketplace.web.render import HTML, PRIVATE, READ_METHODS, security_headers, templates

router = Router()

HOME = sessions.HOME
CALLBACK_PATH = "/manage/signin/callback"
SESSION_COOKIE = "mkp_session"
SIGNIN_COOKIE = "mkp_signin"
SECURE_PREFIX = "__Host-"
CLIENT = "website"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION = "session"
FORM = "form"
PARTS = "parts"  # a multipart form's parts (its files), by name
MAX_MULTIPART_BYTES = logos.MAX_BYTES + 16 * 1024  # a logo and the form around it
STATISTICS_DAYS = 30
JSON_PATHS = ("/manage/uploads",)  # answered as JSON (the upload page's script reads them), errors too


# --- answers ---------------------------------------------------------------------------------------------------


def _base() -> str:
    return public_base_url(router.current_event.headers or {})


def _secure() -> bool:
    return _base().startswith("https://")


@functools.cache
def upload_origin() -> str:
    """The origin browsers send packages to (the presigned POST's), for the upload page's CSP."""
    url = uploads.presigned_post("probe", 1)["url"]  # signed locally: no request is made
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}"


def page(template: str, *, status: int = 200, connect: tuple[str, ...] = (), cookies: list[str] | None = None,
         **context: Any) -> Response:
    session = router.context.get(SESSION)
    html = templates().get_template(template).render(base=_base(), path=router.current_event.path, session=session,
                                                   csrf=session.csrf if session else "", **context)
    return Response(status, HTML, html, headers={**security_headers(connect), "Cache-Control": PRIVATE},
                    cookies=cookies)


def _see_other(location: str, cookies: list[str] | None = None) -> Response:
    return Response(303, None, "", {**security_headers(), "Location": location, "Cache-Control": PRIVATE},
                    cookies=cookies)


def _json(status: int, body: object) -> Response:
    return json_response(status, body, {"Cache-Control": PRIVATE})


def error_page(status: int, message: str) -> Response | None:
    """The publisher area's errors as pages (with the status the API would give); None elsewhere, where the
    function answers JSON."""
    path = router.current_event.path
    if not path.startswith(HOME) or path.startswith(JSON_PATHS):
        return None
    titles = {400: "That request is not right", 401: "Please sign in", 403: "Not allowed", 404: "Not found",
              409: "That cannot be done", 413: "Too large", 415: "Not a form", 429: "Too many requests",
              503: "Temporarily unavailable"}
    return page("error.html", status=status, title=titles.get(status, "Something went wrong"), message=message,
                status_code=status, back=HOME)


# --- cookies and the session ----------------------------------------------------------------------------------


def _cookie_name(name: str) -> str:
    return SECURE_PREFIX + name if _secure() else name


def _set_cookie(name: str, value: str, max_age: timedelta) -> str:
    secure = "; Secure" if _secure() else ""
    return (f"{_cookie_name(name)}={value}; Max-Age={int(max_age.total_seconds())}; Path=/; HttpOnly; "
            f"SameSite=Lax{secure}")


def _clear_cookie(name: str) -> str:
    secure = "; Secure" if _secure() else ""
    return f"{_cookie_name(name)}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"


def _cookie(name: str) -> str | None:
    wanted = _cookie_name(name)
    for cookie in router.current_event.cookies:
        key, _, value = cookie.partition("=")
        if key.strip() == wanted:
            return value.strip()
    return None


def _signed_in(app: Router, next_middleware: NextMiddleware) -> Response:
    found = sessions.find(_cookie(SESSION_COOKIE))
    if found is None:
        event = app.current_event
        if event.http_method in READ_METHODS and not event.path.startswith(JSON_PATHS):
            query = event.raw_event.get("rawQueryString") or ""
            wanted = event.path + (f"?{query}" if query else "")
            return _see_other("/manage/signin?" + urlencode({"next": wanted}))
        raise Unauthorized("your session has ended (signed out or expired): sign in again at /manage/signin")
    _enter(app, found)
    with audit.acting(audit.Actor(found.user, CLIENT)):
        return next_middleware(app)


def _enter(app: Router, found: sessions.Session) -> service.Principal:
    """Put a live session and its principal in the routing context, for the pages and the routes."""
    principal = service.session_principal(found.item, found.digest)
    app.append_context(**{SESSION: found, middleware.PRINCIPAL: principal})
    return principal


def _same_origin(app: Router) -> None:
    """A browser names the page a request comes from; another site's is refused before anything changes."""
    origin = request_header(app.current_event.headers, "origin")
    if origin and origin != "null" and origin.rstrip("/") != _base():
        raise Forbidden("this request comes from another site; use the forms of this site")


def _form(app: Router) -> dict[str, list[str]]:
    """The form's text fields; a form with a file (``multipart/form-data``) also leaves its parts in ``PARTS``."""
    event = app.current_event.raw_event
    if media_type(event) != MULTIPART:
        return form_body(event)
    parts = multipart_form(event, max_bytes=MAX_MULTIPART_BYTES,
                           what=f"The form (a logo may be at most {logos.MAX_BYTES // 1024} KiB)")
    app.append_context(**{PARTS: parts})
    return {name: [p.text() for p in found if p.filename is None] for name, found in parts.items()}


def _csrf_checked(app: Router, next_middleware: NextMiddleware) -> Response:
    _same_origin(app)
    session: sessions.Session = app.context[SESSION]
    presented = request_header(app.current_event.headers, CSRF_HEADER)
    if presented is None and not app.current_event.path.startswith(JSON_PATHS):  # a form: the token is a field
        fields = _form(app)
        app.append_context(**{FORM: fields})
        presented = next(iter(fields.get(CSRF_FIELD) or []), None)
    if not session.csrf_matches(presented):
        raise Forbidden("this form is stale or did not come from this site (its CSRF token does not match your "
                        "session): reload the page and try again")
    return next_middleware(app)


SIGNED_IN: list[Middleware] = [_signed_in]
CHANGING: list[Middleware] = [_signed_in, _csrf_checked]
CREATING: list[Middleware] = [*CHANGING, creation_limited]


def _principal() -> service.Principal:
    return middleware.principal(router, service.Principal)


def _session() -> sessions.Session:
    found: sessions.Session = router.context[SESSION]
    return found


def _field(name: str, *, required: bool = True, longest: int = 1000) -> str | None:
    values = router.context.get(FORM, {}).get(name) or []
    value = values[0].strip() if values else ""
    if not value:
        if required:
            raise BadRequest(f"the form's {name!r} field is required")
        return None
    if len(value) > longest:
        raise BadRequest(f"the form's {name!r} field is longer than {longest} characters")
    return value


def _fields(name: str) -> list[str]:
    return [v.strip() for v in router.context.get(FORM, {}).get(name) or [] if v.strip()]


# --- sign-in and sign-out --------------------------------------------------------------------------------------


@router.route("/manage/?", READ_METHODS)
def home() -> Response:
    found = sessions.find(_cookie(SESSION_COOKIE))
    if found is None:
        return signin_page()
    principal = _enter(router, found)
    token_views = sorted(service.list_tokens(found.user), key=lambda v: v.created_at, reverse=True)
    return page("manage_home.html", memberships=service.memberships_of(principal),
                tokens=[(v, v.warning) for v in token_views],
                policy_refusal=service.Publishing.policy().refusal(found.user))


@router.route("/manage/signin", READ_METHODS)
def signin_page() -> Response:
    from marketplace.identity import signin

    next_path = sessions.safe_next(router.current_event.get_query_string_value("next"))
    return page("manage_signin.html", providers=signin.providers(), next_path=next_path)


@router.route("/manage/signin/with/<provider>", READ_METHODS)
def signin_start(provider: str) -> Response:
    started = sessions.begin(provider, _base() + CALLBACK_PATH,
                             router.current_event.get_query_string_value("next"))
    return _see_other(started.url, [_set_cookie(SIGNIN_COOKIE, started.state, sessions.SIGNIN_LIFETIME)])


@router.route(CALLBACK_PATH, READ_METHODS)
def signin_callback() -> Response:
    event = router.current_event
    refused = event.get_query_string_value("error")
    if refused:
        description = event.get_query_string_value("error_description") or refused
        raise Unauthorized(f"the identity provider did not sign you in: {description[:200]}")
    secret, _, next_path = sessions.complete(event.get_query_string_value("state"), _cookie(SIGNIN_COOKIE),
                                             event.get_query_string_value("code"), _base() + CALLBACK_PATH)
    return _see_other(next_path, [_set_cookie(SESSION_COOKIE, secret, sessions.SESSION_LIFETIME),
                                  _clear_cookie(SIGNIN_COOKIE)])


@router.post("/manage/signout", middlewares=CHANGING)
def signout() -> Response:
    sessions.end(_session())
    return _see_other("/", [_clear_cookie(SESSION_COOKIE)])


# --- namespaces and members ----------------------------------------------------------------------------------


@router.route("/manage/publishers/<namespace>/extensions/<extension>/hub", READ_METHODS)
def vsce_hub(namespace: str, extension: str) -> Response:
    """The address ``vsce publish`` prints after publishing (the VS Code Marketplace's hub): the extension's
    statistics here (signing in first when needed)."""
    return _see_other(f"/manage/extensions/{quote(namespace, safe='')}/{quote(extension, safe='')}")


@router.route("/manage/publishers/<namespace>/?", READ_METHODS)
def vsce_publisher(namespace: str) -> Response:
    return _see_other(_namespace_url(namespace))


def _namespace_url(namespace: str) -> str:
    return f"/manage/namespaces/{quote(namespace, safe='')}"


@router.post("/manage/namespaces", middlewares=CREATING)
def create_namespace() -> Response:
    name = _field("name", longest=200) or ""
    service.create_namespace_for(_principal(), name)
    return _see_other(_namespace_url(name))


@router.route("/manage/namespaces/<namespace>", READ_METHODS, middlewares=SIGNED_IN)
def namespace_page(namespace: str) -> Response:
    from marketplace.catalog import reader

    principal = _principal()
    details = service.namespace_details(principal, namespace)
    role = next((m["role"] for m in details["members"] if m["user"] == principal.user), None)
    extensions = sorted(reader.extensions_in_namespace(namespace), key=lambda e: e.name)
    return page("manage_namespace.html", details=details, owner=role == "owner", extensions=extensions)


@router.post("/manage/namespaces/<namespace>/details", middlewares=CHANGING)
def namespace_details(namespace: str) -> Response:
    changes = {key: _field(key, required=False, longest=2000)
               for key in ("displayName", "description", "website")}
    service.update_namespace_details(_principal(), namespace, changes)
    return _see_other(_namespace_url(namespace))


@router.post("/manage/namespaces/<namespace>/logo", middlewares=CHANGING)
def namespace_logo(namespace: str) -> Response:
    files: list[Part] = router.context.get(PARTS, {}).get("logo") or []
    if not files or not files[0].data:
        raise BadRequest(f"choose an image file to upload as the logo: {logos.ACCEPTED}")
    service.set_namespace_logo(_principal(), namespace, files[0].data)
    return _see_other(_namespace_url(namespace))


@router.post("/manage/namespaces/<namespace>/logo/remove", middlewares=CHANGING)
def remove_namespace_logo(namespace: str) -> Response:
    service.set_namespace_logo(_principal(), namespace, None)
    return _see_other(_namespace_url(namespace))


@router.post("/manage/namespaces/<namespace>/members", middlewares=CHANGING)
def add_member(namespace: str) -> Response:
    user = _field("user", longest=service.USER_MAX) or ""
    role = _field("role", required=False) or "contributor"
    service.add_member_by(_principal(), namespace, user, role)
    return _see_other(_namespace_url(namespace))


@router.post("/manage/namespaces/<namespace>/members/remove", middlewares=CHANGING)
def remove_member(namespace: str) -> Response:
    service.remove_member_by(_principal(), namespace, _field("user", longest=service.USER_MAX) or "")
    return _see_other(_namespace_url(namespace))


@router.route("/manage/namespaces/<namespace>/audit", READ_METHODS, middlewares=SIGNED_IN)
def audit_page(namespace: str) -> Response:
    entries = service.audit_log_for(_principal(), namespace, 500)
    return page("manage_audit.html", namespace=namespace, entries=[e.as_json() for e in entries])


# --- tokens ----------------------------------------------------------------------------------------------------


@router.post("/manage/tokens", middlewares=CREATING)
def create_token() -> Response:
    scope = _fields("namespaces")
    days_text = _field("days", required=False, longest=6)
    if days_text is not None and not days_text.isdigit():
        raise BadRequest("the token's lifetime must be a whole number of days")
    description = _field("description", required=False, longest=200)
    value, view = service.create_token_for(_principal(), scope, days=int(days_text) if days_text else None,
                                           description=description)
    return page("manage_token.html", status=201, token=value, view=view)


@router.post("/manage/tokens/<token_id>/revoke", middlewares=CHANGING)
def revoke_token(token_id: str) -> Response:
    service.revoke_token_of(_principal(), token_id)
    return _see_other(HOME + "#tokens")


# --- uploads ---------------------------------------------------------------------------------------------------


@router.route("/manage/upload", READ_METHODS, middlewares=SIGNED_IN)
def upload_page() -> Response:
    return page("manage_upload.html", connect=(upload_origin(),),
                memberships=service.memberships_of(_principal()), max_bytes=uploads.max_upload_bytes())


@router.post("/manage/uploads", middlewares=CHANGING)
def create_upload() -> Response:
    principal = _principal()
    if not principal.namespaces:
        raise Forbidden("you are not a member of any namespace yet: create one first")
    created = uploads.create(principal, json_body(router.current_event.raw_event))
    return _json(201, created)


@router.get("/manage/uploads/<upload_id>", middlewares=SIGNED_IN)
def upload_status(upload_id: str) -> Response:
    record = store.find_upload(upload_id) if len(upload_id) <= 64 else None
    if record is None or record.user != _principal().user:
        raise NotFound(f"you have no upload {upload_id!r}")
    return _json(200, uploads.view(record))


# --- statistics ------------------------------------------------------------------------------------------------


def chart_data(report: Mapping[str, Any], today: str | None = None) -> dict[str, Any]:
    """The report's last ``STATISTICS_DAYS`` days, oldest first with zeros filled in, as the charts read them."""
    from datetime import date

    end = date.fromisoformat(today) if today else tokens.utcnow().date()
    days = [(end - timedelta(days=back)).isoformat() for back in range(STATISTICS_DAYS - 1, -1, -1)]
    events = {d["day"]: d for d in report.get("events_by_day", [])}
    activations = {d["day"]: d for d in report.get("activations_by_day", [])}
    return {
        "days": days,
        "series": {kind: [int(events.get(day, {}).get(kind, 0)) for day in days]
                   for kind in ("downloads", "installs", "updates", "uninstalls")},
        "activation": {"days": days,
                       "p50_ms": [activations.get(day, {}).get("p50_ms") for day in days],
                       "p95_ms": [activations.get(day, {}).get("p95_ms") for day in days]},
        "versions": list(report.get("events_by_version", [])),
    }


@router.route("/manage/extensions/<namespace>/<extension>", READ_METHODS, middlewares=SIGNED_IN)
def statistics_page(namespace: str, extension: str) -> Response:
    report = lifecycle.statistics(_principal(), namespace, extension)
    data = chart_data(report)
    # JSON in a non-executable <script type="application/json">: "<" escaped so no text can close the element
    embedded = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    held = lifecycle.quarantined_of(namespace, extension)
    return page("manage_stats.html", namespace=namespace, report=report, data=data, embedded=embedded, held=held)


@router.post("/manage/extensions/<namespace>/<extension>/versions/<version>/confirm", middlewares=CHANGING)
def confirm_quarantined(namespace: str, extension: str, version: str) -> Response:
    """An owner confirms a version the publish-time scan holds back (the statistics page's Confirm button)."""
    target = _field("targetPlatform", required=False) or None
    lifecycle.confirm_quarantined(_principal(), namespace, extension, version, target)
    return _see_other(f"/manage/extensions/{quote(namespace, safe='')}/{quote(extension, safe='')}")


@router.route("/manage/extensions/<namespace>/<extension>/statistics.csv", READ_METHODS, middlewares=SIGNED_IN)
def statistics_csv(namespace: str, extension: str) -> Response:
    """The statistics as CSV (``?by=version`` for one row per version), as the API exports them."""
    by = lifecycle.statistics_grouping(router.current_event.get_query_string_value("by"))
    filename, text = lifecycle.statistics_csv(lifecycle.statistics(_principal(), namespace, extension), by)
    return Response(200, "text/csv; charset=utf-8", text,
                    {**security_headers(), "Cache-Control": PRIVATE,
                     "Content-Disposition": f'attachment; filename="{filename}"'})
