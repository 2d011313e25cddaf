"""What an HTTP function may believe about who called it and through which front door.

On AWS the HTTP API's own ``execute-api`` URL stays reachable (turning it off needs a custom domain), so any
header only CloudFront should set (``CloudFront-Viewer-Address``, ``X-Forwarded-Host``, ``X-Forwarded-For``)
could be written by a caller who skips the CDN. The distribution therefore adds a secret origin header
(``ORIGIN_HEADER``) to every request it sends to the API, and the HTTP functions get the same value in their
environment (``ORIGIN_SECRET_VAR``; the local runtime sets both too). A request whose header matches is
*verified*: it came through the front door, and the headers the front door sets can be trusted.

- ``verify_origin`` refuses (``403``) a request that is not verified while a secret is configured; with no
  secret configured (unit and integration tests that call handlers directly) nothing is checked.
- ``client_address`` is the viewer's address from ``CloudFront-Viewer-Address`` only when verified, else the
  address API Gateway saw (``requestContext.http.sourceIp``); never a client's ``X-Forwarded-For``.
- ``public_base_url`` uses ``X-Forwarded-Host``/``X-Forwarded-Proto`` only when verified, else ``Host``; the
  host is always checked to be a plain ``host[:port]`` before it goes into a URL (cached redirects carry it).

Plain standard library: importing this costs nothing at cold start.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from marketplace.platform.errors import Forbidden
from marketplace.platform.headers import lowered_headers

ORIGIN_SECRET_VAR = "MARKETPLACE_ORIGIN_SECRET"  # noqa: S105  (the variable's name, not a secret)
ORIGIN_HEADER = "x-origin-verify"
# The local runtime may name its origin header differently; the deployed functions never set this.
ORIGIN_HEADER_VAR = "MARKETPLACE_ORIGIN_HEADER"
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"
FALLBACK_HOST = "localhost"
UNKNOWN_ADDRESS = "unknown"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?$")
_LOOPBACK_PREFIXES = ("127.", "localhost", "[::1]")
_SCHEMES = ("http", "https")


class OriginNotVerified(Forbidden):
    """The request did not come through the marketplace's front door (CloudFront or the local runtime)."""

    code = "origin_not_verified"


def configured_secret() -> str | None:
    """The origin secret of this deployment, or ``None`` where none is configured (read on every call, so tests
    and the local runtime can set it at any time)."""
    return os.environ.get(ORIGIN_SECRET_VAR) or None


def origin_header() -> str:
    """The (lower-case) name of the header that carries the secret: ``ORIGIN_HEADER`` unless overridden."""
    return (os.environ.get(ORIGIN_HEADER_VAR) or ORIGIN_HEADER).strip().lower()


def origin_verified(headers: Mapping[str, str] | None) -> bool:
    """Whether a secret is configured and the request carries it (compared in constant time)."""
    secret = configured_secret()
    if secret is None:
        return False
    presented = lowered_headers(headers).get(origin_header())
    if presented is None:
        return False
    return hmac.compare_digest(presented.strip().encode("utf-8", "surrogatepass"), secret.encode("utf-8"))


def verify_origin(headers: Mapping[str, str] | None) -> None:
    """Raise ``OriginNotVerified`` (``403``) when a secret is configured and the request does not carry it."""
    if configured_secret() is not None and not origin_verified(headers):
        raise OriginNotVerified("Call the marketplace through its public URL, not the API's own endpoint")


def origin_denial(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The API Gateway (payload 2.0) answer refusing ``event`` when its origin is not verified, else ``None``.

    For the shared handler wrapper, which checks before the resolver runs: the body is the platform's usual
    ``{"error", "message"}`` JSON of ``OriginNotVerified``.
    """
    try:
        verify_origin(event.get("headers"))
    except OriginNotVerified as error:
        return {
            "statusCode": error.status,
            "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
            "body": json.dumps(error.body(), separators=(",", ":")),
            "isBase64Encoded": False,
        }
    return None


def client_address(event: Mapping[str, Any]) -> str:
    """The caller's address: the viewer's (``CloudFront-Viewer-Address``, ``<address>:<port>``) when the request is
    verified, else the address API Gateway saw. ``X-Forwarded-For`` is never read: its hops are the caller's words.
    """
    headers = lowered_headers(event.get("headers"))
    if origin_verified(headers):
        viewer = _address(headers.get(VIEWER_ADDRESS_HEADER, "").strip().rsplit(":", 1)[0].strip("[]"))
        if viewer:
            return viewer
    return _address(str(_source_ip(event) or "")) or UNKNOWN_ADDRESS


def public_base_url(headers: Mapping[str, str] | None) -> str:
    """The public origin (``scheme://host[:port]``) the caller used.

    Verified requests name it in ``X-Forwarded-Host`` (CloudFront's viewer-request function copies the viewer's
    ``Host``; the local runtime sets it) and ``CloudFront-Forwarded-Proto`` (CloudFront) or ``X-Forwarded-Proto``
    (the local runtime). Otherwise, and whenever a forwarded value
    is not a plain ``host[:port]``, the ``Host`` header, and ``localhost`` when that is not one either. The scheme
    is ``http`` for loopback hosts and ``https`` for every other, unless a verified ``X-Forwarded-Proto`` says.
    """
    lowered = lowered_headers(headers)
    verified = origin_verified(lowered)
    forwarded_host = _host(lowered.get("x-forwarded-host")) if verified else None
    host = forwarded_host or _host(lowered.get("host")) or FALLBACK_HOST
    proto = ""
    if verified:  # CloudFront sets CloudFront-Forwarded-Proto itself; the local runtime sets X-Forwarded-Proto
        proto = _first(lowered.get("cloudfront-forwarded-proto") or lowered.get("x-forwarded-proto")).lower()
    if proto not in _SCHEMES:
        proto = "http" if host.startswith(_LOOPBACK_PREFIXES) else "https"
    return f"{proto}://{host}"


def _source_ip(event: Mapping[str, Any]) -> object:
    """``requestContext.http.sourceIp``: the address API Gateway saw (CloudFront's, behind the CDN)."""
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, Mapping) else None
    return http.get("sourceIp") if isinstance(http, Mapping) else None


def _first(value: str | None) -> str:
    """The first of a comma-joined header's values (API Gateway joins repeated headers with commas)."""
    return (value or "").split(",", 1)[0].strip()


def _host(value: str | None) -> str | None:
    candidate = _first(value).lower()
    match = _HOST.match(candidate)
    if not match or len(candidate) > 261:
        return None
    port = match.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return candidate


def _address(value: str) -> str:
    """``value`` when it is an IP address, else ``""``."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""
