"""The HTTP side every API function shares: one resolver per function (``platform.router``), CORS for browser
clients (code-server's workbench calls the gallery and the sync store from the browser), errors as
JSON bodies with the right status code, and response headers that are always safe field values."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.errors import MarketplaceError, ServiceUnavailable, aws_unavailable
from marketplace.platform.observability import Handler, observability
from marketplace.platform.router import CorsConfig, Resolver, Response, Router
from marketplace.platform.trust import origin_denial

JSON = "application/json"

# Headers real clients send cross-origin (the gallery's and Settings Sync's request headers).
CLIENT_HEADERS = [
    "Authorization",
    "Content-Type",
    "Cache-Control",
    "If-Match",
    "If-None-Match",
    "X-Market-Client-Id",
    "X-Market-User-Id",
    "VSCode-SessionId",
    "X-Account-Type",
    "X-Client-Name",
    "X-Client-Version",
    "X-Client-Commit",
    "X-Machine-Id",
    "X-Machine-Session-Id",
    "X-User-Session-Id",
    "X-Execution-Id",
]
EXPOSED_HEADERS = ["ETag", "Location", "Retry-After", "X-Operation-Id"]

CORS = CorsConfig(allow_origin="*", allow_headers=CLIENT_HEADERS, expose_headers=EXPOSED_HEADERS, max_age=600)


def json_response(status: int, body: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=dict(headers or {}),
    )


# RFC 9110 field names are tokens; values are sent as printable US-ASCII (see ``header_value``).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# What may stay as it is in a Location: RFC 3986's reserved and unreserved characters, and "%" (the URL is
# already escaped where it needed to be, so an escape is never escaped twice).
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
# One path segment or an object key: no "%" (a literal percent sign is escaped), "/" kept in keys.
PATH_SAFE = "/!$&'()*+,;=:@~"


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def header_value(value: object) -> str:
    """``value`` as a safe response field value: CR, LF, NUL, every other control character and everything
    outside US-ASCII percent-encoded (UTF-8), so it can neither end the header nor fail to encode."""
    text = str(value)
    if text.isascii() and text.isprintable():  # the common case: printable ASCII is kept as it is
        return text
    return "".join(c if " " <= c <= "~" else _escape(c) for c in text)


def location_value(url: str) -> str:
    """A URL fit for ``Location``: anything a URL may not hold raw (space, controls, non-ASCII) escaped."""
    return quote(url, safe=URL_SAFE, errors="surrogatepass")


def quote_path(path: str) -> str:
    """A path (one segment or an S3 key with its slashes) escaped for use inside a URL."""
    return quote(path, safe=PATH_SAFE, errors="surrogatepass")


def redirect(location: str, headers: Mapping[str, str], *, status: int = 302) -> Response:
    """A redirect to ``location`` (escaped as a URL), with the caller's cache headers (a counted download must
    say ``no-store``)."""
    return Response(status_code=status, content_type="text/plain", body="",
                    headers={"Location": location_value(location), **headers})


def public_base_url(headers: Mapping[str, str]) -> str:
    """The public origin the caller used: the forwarded host and scheme when the request came through the front
    door (origin secret verified), else the Host header; always a plain ``host[:port]`` (``platform.trust``)."""
    from marketplace.platform import trust  # here, not at the top: this function is all that uses it

    return trust.public_base_url(headers)


def with_operation_id(response: dict[str, Any], event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Every answer names its request (``X-Operation-Id``): clients log it with errors, and it finds the
    request's log lines (the API Gateway request id is the logs' correlation id)."""
    request_id = (event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", "")
    if request_id:
        response.setdefault("headers", {})["X-Operation-Id"] = str(request_id)
    return response


def safe_headers(response: dict[str, Any]) -> dict[str, Any]:
    """The last line of defence, on every answer: header names that are not tokens are dropped and every
    value (cookies too) goes through ``header_value``."""
    headers = response.get("headers")
    if headers:
        response["headers"] = {name: header_value(value) for name, value in headers.items()
                               if isinstance(name, str) and _TOKEN.fullmatch(name)}
    multi = response.get("multiValueHeaders")
    if multi:
        response["multiValueHeaders"] = {name: [header_value(v) for v in values] for name, values in multi.items()
                                         if isinstance(name, str) and _TOKEN.fullmatch(name)}
    if response.get("cookies"):
        response["cookies"] = [header_value(cookie) for cookie in response["cookies"]]
    return response


ErrorPage = Callable[[int, str], Response | None]  # None: answer this error as JSON


def http_app(service: str, *routers: Router, logger: Logger | None = None,
             error_page: ErrorPage | None = None) -> Resolver:
    """A resolver with the shared CORS, not-found and error handling, and the capability's routers.

    Errors are JSON documents (``{"error": ..., "message": ...}``) unless ``error_page`` is given and answers a
    page: a function whose answers are read by people (the website) renders each error, with the same status and
    headers."""
    app = Resolver(cors=CORS)
    log = logger or Logger(service=service)

    def answer(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
        page = error_page(status, str(body.get("message", ""))) if error_page is not None else None
        if page is None:
            return json_response(status, body, headers)
        page.headers.update(headers or {})
        return page

    @app.not_found
    def _not_found(_: Exception) -> Response:
        event = app.current_event
        return answer(404, {"error": "not_found", "message": f"No route for {event.http_method} {event.path}"})

    @app.exception_handler(MarketplaceError)
    def _domain_error(error: MarketplaceError) -> Response:
        return answer(error.status, error.body(), error.headers)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        if aws_unavailable(error):  # throttled, or storage that cannot take the write: retry later, nothing kept
            log.warning("AWS unavailable", extra={"error_type": type(error).__name__, "error": str(error)[:500]})
            unavailable = ServiceUnavailable("The service is temporarily unable to store or read this; "
                                             "nothing was changed. Retry in a moment.",
                                             headers={"Retry-After": "5"})
            return answer(unavailable.status, unavailable.body(), unavailable.headers)
        # Bugs and outages: log the detail, never leak it to the caller.
        log.exception("unhandled error", extra={"error_type": type(error).__name__})
        request_id = app.current_event.request_id
        return answer(500, {"error": "internal_error", "message": f"Internal error (request {request_id})"})

    for router in routers:
        app.include_router(router)
    return app


def http_function(service: str, *routers: Router,
                  error_page: ErrorPage | None = None) -> tuple[Resolver, Handler]:
    """The resolver and the Lambda handler of one HTTP API function, observed like every function."""
    observed = observability(service)
    app = http_app(service, *routers, logger=observed.logger, error_page=error_page)

    @observed.entry_point(correlation_paths.API_GATEWAY_HTTP)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # only requests that came through the front door (CloudFront, or the local runtime's) are answered
        denied = origin_denial(event)
        return safe_headers(with_operation_id(denied or app.resolve(event, context), event, context))

    return app, lambda_handler
