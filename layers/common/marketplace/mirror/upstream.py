"""A client of an upstream registry's Open VSX read API (docs/protocols/open-vsx.md): open-vsx.org, or another
instance of this marketplace.

It reads ``GET /api/-/search`` (paged), ``GET /api/{ns}``, ``GET /api/{ns}/{ext}``, ``.../{version}`` and
``.../{target}/{version}``, the ``versions`` lists, and the files an ``ExtensionJson`` names. It is polite and
careful with what it is answered:

- a token bucket keeps to ``rate`` requests a second (shared by every thread); ``rate`` 0 means no limit;
- ``429``, ``5xx`` and network errors are retried a bounded number of times, after a growing pause or the
  ``Retry-After`` the upstream asked for (up to ``max_retry_after`` seconds: a longer one gives up at once);
- every request has a timeout; a JSON answer larger than ``max_json_bytes`` is refused;
- a package is streamed to a temporary file, its SHA-256 computed on the way, and refused past ``max_bytes``
  or when fewer bytes arrive than the ``Content-Length`` promised;
- HTTPS is verified (``ca_file`` adds a CA, e.g. a local marketplace's ``serve --tls``);
- URLs read from answers must be on the upstream's own origin, and a redirect is followed only to ``http`` or
  ``https`` (never from ``https`` down to ``http``).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import os
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import marketplace
from marketplace.platform.errors import NotFound, ServiceUnavailable
from marketplace.platform.retry import Backoff

DEFAULT_RATE = 4.0
DEFAULT_TIMEOUT = 30.0
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_SMALL_FILE = 1024 * 1024  # a digest, a signature archive, a public key
MAX_RETRY_AFTER = 120.0
MAX_REDIRECTS = 5
SEARCH_PAGE = 100  # the largest page Open VSX (and this marketplace) answers
CHUNK = 1024 * 1024
USER_AGENT = f"marketplace-mirror/{marketplace.__version__}"
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class UpstreamError(ServiceUnavailable):
    """The upstream did not answer usefully (after the retries); ``status`` is its HTTP status when it gave one."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.upstream_status = status


class UpstreamNotFound(NotFound):
    """The upstream answered 404."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class Refused(UpstreamError):
    """What the upstream sent cannot be accepted: not retried (an answer too large, a redirect to another
    scheme, a URL on another origin, a truncated or oversized download, an answer that is not JSON)."""


class Truncated(Refused):
    """Fewer bytes arrived than the upstream announced."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------- politeness


class TokenBucket:
    """At most ``rate`` acquisitions a second on average, ``burst`` at once; thread-safe. Each caller reserves
    its token under the lock and sleeps outside it, so waiting threads queue up in order."""

    def __init__(self, rate: float, burst: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("the rate cannot be negative and the burst must be at least 1")
        self.rate, self.burst = rate, burst
        self.clock, self.sleep = clock, sleep
        self._tokens = burst
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it when there is none; answers the time waited."""
        if self.rate == 0:
            return 0.0
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self.sleep(wait)
        return wait


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: a number of seconds or an HTTP date (``now``: the wall clock)."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:9]))
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: ``backoff``'s attempts and pauses, or the upstream's ``Retry-After`` when longer (a
    ``Retry-After`` beyond ``max_retry_after`` ends the retries at once)."""

    backoff: Backoff = field(default_factory=lambda: Backoff(5, 0.5, 30.0))
    max_retry_after: float = MAX_RETRY_AFTER

    def wait(self, attempt: int, retry_after: float | None) -> float | None:
        """The pause before trying again after failed attempt ``attempt`` (from 0), or ``None``: give up."""
        attempts = self.backoff.attempts
        if attempts is not None and attempt + 1 >= attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        return max(self.backoff.delay(attempt), retry_after or 0.0)


# ------------------------------------------------------------------------------------------------- HTTP


def _check_redirect(source: str, target: str) -> None:
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"refused a redirect from {source} to a {scheme}: URL", url=source)
    if urlsplit(source).scheme.lower() == "https" and scheme == "http":
        raise Refused(f"refused a redirect from HTTPS down to HTTP ({target[:200]})", url=source)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Redirects only to ``http``/``https`` (urllib itself would follow ``ftp:``), never HTTPS to HTTP."""

    max_redirections = MAX_REDIRECTS

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            _check_redirect(req.full_url, urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        _check_redirect(req.full_url, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"


def normalize_base(url: str) -> str:
    """The registry's base URL: no trailing ``/`` or ``/api`` (both are accepted)."""
    base = url.strip().rstrip("/")
    if base.endswith("/api"):
        base = base[: -len("/api")]
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL of a registry")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{url!r}: give the registry's base URL, without credentials, query or fragment")
    return base


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


def _untrusted(url: str, error: ssl.SSLCertVerificationError) -> UpstreamError:
    return UpstreamError(f"{url}: the upstream's certificate is not trusted ({error.verify_message or error}); pass "
                         "--ca-file for a private CA", url=url)


def _segment(value: str) -> str:
    return quote(value, safe="")


class Upstream:
    """One upstream registry. Thread-safe: the mirror's workers share it (and its rate)."""

    def __init__(self, base_url: str, *, rate: float = DEFAULT_RATE, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 max_json_bytes: int = MAX_JSON_BYTES, bucket: TokenBucket | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = normalize_base(base_url)
        self.origin = origin(self.base_url)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_json_bytes = max_json_bytes
        self.bucket = bucket or TokenBucket(rate)
        self.sleep = sleep
        context = ssl.create_default_context()
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _Redirects())
        self._lock = threading.Lock()
        self.requests = 0  # requests sent (each attempt; a redirect's hops count as one)
        self.bytes_received = 0  # bytes of every answer: JSON, files and packages

    # ------------------------------------------------------------------------------------------ plumbing

    def api(self, *segments: str, **params: Any) -> str:
        url = f"{self.base_url}/api/" + "/".join(_segment(s) for s in segments)
        return url + (f"?{urlencode(params)}" if params else "")

    def check_url(self, url: str) -> str:
        """A URL read from an answer: refused unless it is on the upstream's origin."""
        if not isinstance(url, str) or origin(url) != self.origin or urlsplit(url).scheme not in ("http", "https"):
            raise Refused(f"the upstream named a URL outside {self.base_url}: {str(url)[:200]}", url=str(url))
        return url

    def _count(self, received: int = 0, *, request: bool = False) -> None:
        with self._lock:
            self.requests += 1 if request else 0
            self.bytes_received += received

    def _attempt(self, url: str, accept: str, read: Callable[[http.client.HTTPResponse], Any]) -> Any:
        self.bucket.acquire()
        self._count(request=True)
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": USER_AGENT})  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return read(response)
        except urllib.error.HTTPError as error:
            with contextlib.suppress(Exception):
                error.read(64 * 1024)
            if error.code == 404:
                raise UpstreamNotFound(f"not found upstream: {url}", url=url) from None
            if error.code in RETRIED_STATUSES:
                raise _Retry(f"HTTP {error.code} from {url}", status=error.code,
                             retry_after=retry_after_seconds(error.headers.get("Retry-After"))) from None
            raise UpstreamError(f"HTTP {error.code} from {url}", url=url, status=error.code) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLCertVerificationError):
                raise _untrusted(url, error.reason) from None
            raise _Retry(f"{url}: {error.reason}") from None
        except ssl.SSLCertVerificationError as error:
            raise _untrusted(url, error) from None
        except (OSError, http.client.HTTPException) as error:  # a reset, a timeout, a malformed status line
            raise _Retry(f"{url}: {type(error).__name__}: {error}") from None

    def _with_retries(self, url: str, accept: str, read: Callable[[http.client.HTTPResponse], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return self._attempt(url, accept, read)
            except _Retry as failed:
                wait = self.retry.wait(attempt, failed.retry_after)
                if wait is None:
                    tries = attempt + 1
                    raise UpstreamError(f"{failed.message} (after {tries} attempt{'s' * (tries > 1)})", url=url,
                                        status=failed.status) from None
                self.sleep(wait)
                attempt += 1

    def _read_bounded(self, response: http.client.HTTPResponse, limit: int, url: str, what: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Refused(f"{what} from {url} is {declared} bytes; at most {limit} are read", url=url)
        data = response.read(limit + 1)
        self._count(len(data))
        if len(data) > limit:
            raise Refused(f"{what} from {url} is larger than the {limit} bytes read", url=url)
        if declared and declared.isdigit() and len(data) < int(declared):
            raise _Retry(f"{url}: the answer ended after {len(data)} of {declared} bytes")
        return data

    # --------------------------------------------------------------------------------------------- reads

    def get_json(self, url: str) -> Any:
        def read(response: http.client.HTTPResponse) -> Any:
            data = self._read_bounded(response, self.max_json_bytes, url, "the answer")
            try:
                return json.loads(data)
            except ValueError:
                raise Refused(f"{url} did not answer JSON", url=url) from None

        return self._with_retries(self.check_url(url), "application/json", read)

    def get_bytes(self, url: str, limit: int = MAX_SMALL_FILE) -> bytes:
        """A small file (a digest, a signature archive, a public key), in memory."""
        return bytes(self._with_retries(self.check_url(url), "*/*",
                                        lambda response: self._read_bounded(response, limit, url, "the file")))

    def search_page(self, offset: int, size: int = SEARCH_PAGE) -> dict[str, Any]:
        """One page of ``GET /api/-/search``, oldest first, so that a publish while paging adds to the end."""
        url = self.api("-", "search", size=size, offset=offset, sortBy="timestamp", sortOrder="asc")
        answer = self.get_json(url)
        if not isinstance(answer, dict) or not isinstance(answer.get("extensions"), list):
            raise Refused(f"{url} did not answer a search result", url=url)
        return answer

    def search_all(self, page_size: int = SEARCH_PAGE) -> Iterator[dict[str, Any]]:
        """Every search entry, page after page, until a page is empty or the total is reached."""
        offset = 0
        while True:
            answer = self.search_page(offset, page_size)
            entries = [e for e in answer["extensions"] if isinstance(e, dict)]
            yield from entries
            offset += len(answer["extensions"])
            total = answer.get("totalSize")
            if not answer["extensions"] or (isinstance(total, int) and offset >= total):
                return

    def namespace(self, namespace: str) -> dict[str, Any]:
        answer = self.get_json(self.api(namespace))
        if not isinstance(answer, dict):
            raise Refused(f"the upstream's answer for namespace {namespace} is not an object")
        return answer

    def extension(self, namespace: str, name: str, *, target_platform: str | None = None,
                  version: str | None = None) -> dict[str, Any]:
        """``ExtensionJson``: the latest version, or ``version`` (``target_platform`` scopes either)."""
        segments = [namespace, name, *([target_platform] if target_platform else []), *([version] if version else [])]
        answer = self.get_json(self.api(*segments))
        if not isinstance(answer, dict) or not isinstance(answer.get("version"), str):
            raise Refused(f"the upstream's answer for {namespace}.{name} is not an extension")
        return answer

    def versions(self, url: str, page_size: int = SEARCH_PAGE) -> list[str]:
        """Every version number a paged ``VersionsJson`` list (``allVersionsUrl``) holds, in its order."""
        found: list[str] = []
        offset = 0
        while True:
            query = urlencode({"size": page_size, "offset": offset})
            answer = self.get_json(f"{url}{'&' if '?' in url else '?'}{query}")
            page = answer.get("versions") if isinstance(answer, dict) else None
            if not isinstance(page, dict):
                raise Refused(f"{url} did not answer a versions list", url=url)
            found += [str(v) for v in page]
            offset += len(page)
            total = answer.get("totalSize")
            if not page or (isinstance(total, int) and offset >= total):
                return found

    def download(self, url: str, *, max_bytes: int, directory: str | Path | None = None) -> Downloaded:
        """Stream a file to a new temporary file (the caller deletes it), hashing it on the way."""

        def read(response: http.client.HTTPResponse) -> Downloaded:
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise Refused(f"the package is {expected} bytes; this marketplace accepts at most {max_bytes}",
                              url=url)
            digest, size = hashlib.sha256(), 0
            handle, name = tempfile.mkstemp(prefix="mirror-", suffix=".vsix", dir=directory)
            path = Path(name)
            try:
                with os.fdopen(handle, "wb") as out:
                    while chunk := response.read(CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise Refused(f"the package is larger than the {max_bytes} bytes this marketplace "
                                          "accepts", url=url)
                        digest.update(chunk)
                        out.write(chunk)
                self._count(size)
                if expected is not None and size != expected:
                    raise Truncated(f"truncated download: {size} of {expected} bytes arrived", url=url)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            return Downloaded(path, size, digest.hexdigest())

        attempt = 0
        while True:  # a truncated transfer may be the network's fault: tried again like a 5xx
            try:
                return self._with_retries(self.check_url(url), "application/octet-stream", read)  # type: ignore[no-any-return]
            except Truncated:
                wait = self.retry.wait(attempt, None)
                if wait is None:
                    raise
                self.sleep(wait)
                attempt += 1
