"""Request headers by name in any case: the one lookup for code handed a plain header mapping.

Routes read ``router.current_event.headers``, which ``platform.router`` already looks up without case. The code that
sees the raw event or a plain mapping (the identity checks, the origin check, the body decoder, the download
event) uses these. The module imports nothing, so the light paths (telemetry's body decoder, the trust checks)
stay light."""

from __future__ import annotations

from collections.abc import Mapping


def request_header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """The value of header ``name`` in any case, or ``None``."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return None if value is None else str(value)


def lowered_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Every header under its lower-case name, for code that reads several of them."""
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


# Every package file the marketplace serves (CDN and API): it comes from an untrusted upload and is served from the
# website's own origin, so opened as a document (an ``.html`` or ``.svg`` file of a web extension) it must run
# nothing and reach nothing. ``sandbox`` gives it an opaque origin without scripts, forms or pop-ups; the policy
# does not apply when a client fetches the file or shows it with ``<img>``.
ASSET_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
