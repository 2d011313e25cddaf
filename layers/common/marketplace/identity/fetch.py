"""Small HTTP requests for key sets, discovery documents, the GitHub user API and sign-in's code exchanges,
with ``urllib`` (no extra dependency in the Lambda layer). Failures to reach the other side are
``Unreachable``; any HTTP answer, error statuses included, is a ``Reply``."""

from __future__ import annotations

import functools
import http.client
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import IO
from urllib.parse import urlsplit

from marketplace.identity.config import CA_FILE_VAR

DEFAULT_TIMEOUT = 5.0
MAX_BYTES = 1 << 20  # a key set or a user document is a few KiB; anything near this is not one
USER_AGENT = "marketplace-identity"


class Unreachable(Exception):
    """The address did not answer (refused, timed out, TLS failure, malformed URL, oversized reply)."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A credential-carrying request is never replayed to wherever a redirect points."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


@functools.lru_cache(maxsize=4)
def _context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def tls_context() -> ssl.SSLContext:
    """The system's authorities, plus ``AUTH_CA_FILE`` when set (the local runtime's CA with ``--tls``)."""
    return _context(os.environ.get(CA_FILE_VAR, "").strip())


def get(url: str, headers: Mapping[str, str] | None = None, *, timeout: float = DEFAULT_TIMEOUT,
        follow_redirects: bool = True) -> Reply:
    return _request("GET", url, headers, None, timeout=timeout, follow_redirects=follow_redirects)


def post(url: str, body: bytes, headers: Mapping[str, str] | None = None, *,
         timeout: float = DEFAULT_TIMEOUT) -> Reply:
    """A POST of ``body`` (credentials, a code), never followed through a redirect: a 3xx is the ``Reply``."""
    return _request("POST", url, headers, body, timeout=timeout, follow_redirects=False)


def _request(method: str, url: str, headers: Mapping[str, str] | None, body: bytes | None, *, timeout: float,
             follow_redirects: bool) -> Reply:
    if urlsplit(url).scheme not in ("http", "https"):
        raise Unreachable(f"{url!r} is not an http(s) address")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        url, data=body, headers={"User-Agent": USER_AGENT, **(headers or {})}, method=method)
    try:
        context = tls_context()
    except (OSError, ssl.SSLError) as error:
        raise Unreachable(f"cannot load the CA bundle named by {CA_FILE_VAR}: {error}") from error
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=context)]
    if not follow_redirects:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    try:
        try:
            with opener.open(request, timeout=timeout) as response:
                return Reply(response.status, _lower(response.headers), _read(response))
        except urllib.error.HTTPError as error:  # an answer, with an error status
            with error:
                return Reply(error.code, _lower(error.headers), _read(error))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise Unreachable(f"{urlsplit(url).netloc} did not answer: {reason}") from error


def _lower(headers: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _read(response: IO[bytes]) -> bytes:
    body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise Unreachable(f"the answer is larger than {MAX_BYTES} bytes")
    return body
