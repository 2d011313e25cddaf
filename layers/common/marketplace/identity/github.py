"""GitHub tokens (``X-Account-Type: github``): opaque to us, so GitHub is asked who they belong to
(``GET {AUTH_GITHUB_API_URL}/user``). Answers are cached briefly by the token's SHA-256 (never the token):
a known user for a minute, a refused token for ten seconds; an outage is not cached."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

from marketplace.identity import fetch
from marketplace.identity.principal import Principal, unauthorized
from marketplace.platform.errors import MarketplaceError, ServiceUnavailable

log = logging.getLogger("marketplace.identity")

PROVIDER = "github"
TIMEOUT_SECONDS = 5.0
SUCCESS_TTL_SECONDS = 60.0
REFUSED_TTL_SECONDS = 10.0
CACHE_ENTRIES = 1024
API_VERSION = "2022-11-28"

_clock = time.monotonic  # tests replace it to step over the cache windows
_cache: OrderedDict[str, tuple[float, Principal | str]] = OrderedDict()  # sha256 -> (expires, principal | refusal)
_lock = threading.Lock()


def verify(token: str, api_url: str) -> Principal:
    digest = hashlib.sha256(f"{api_url}\n{token}".encode()).hexdigest()
    now = _clock()
    with _lock:
        cached = _cache.get(digest)
        if cached is not None and cached[0] <= now:
            del _cache[digest]
            cached = None
    if cached is not None:
        if isinstance(cached[1], Principal):
            return cached[1]
        raise unauthorized(cached[1])
    try:
        principal = _ask(token, api_url)
    except MarketplaceError as error:
        if error.status == 401:
            _remember(digest, now + REFUSED_TTL_SECONDS, error.message)
        raise
    _remember(digest, now + SUCCESS_TTL_SECONDS, principal)
    return principal


def _remember(digest: str, expires: float, outcome: Principal | str) -> None:
    with _lock:
        _cache[digest] = (expires, outcome)
        _cache.move_to_end(digest)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def reset() -> None:
    """Forget every cached answer (tests)."""
    with _lock:
        _cache.clear()


def _ask(token: str, api_url: str) -> Principal:
    try:
        reply = fetch.get(
            f"{api_url}/user",
            {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
             "X-GitHub-Api-Version": API_VERSION},
            timeout=TIMEOUT_SECONDS, follow_redirects=False,  # the token goes to this address only
        )
    except fetch.Unreachable as error:
        log.warning("GitHub user API unreachable: %s", error)
        raise ServiceUnavailable(f"cannot reach GitHub to check the token: {error}") from error
    rate_limited = reply.status == 429 or (reply.status == 403 and reply.headers.get("x-ratelimit-remaining") == "0")
    if rate_limited:
        raise ServiceUnavailable("GitHub is rate limiting token checks; try again later",
                                 headers=_retry_after(reply.headers))
    if reply.status in (401, 403):
        raise unauthorized(f"GitHub did not accept the token (HTTP {reply.status})")
    if reply.status != 200:
        log.warning("GitHub user API answered HTTP %s", reply.status)
        raise ServiceUnavailable(f"GitHub answered HTTP {reply.status} when checking the token")
    try:
        user = json.loads(reply.body)
        user_id, login = user["id"], user.get("login")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ServiceUnavailable("GitHub answered with an unexpected user document") from error
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or not str(user_id):
        raise ServiceUnavailable("GitHub answered with an unexpected user id")
    scopes = frozenset(s.strip() for s in reply.headers.get("x-oauth-scopes", "").split(",") if s.strip())
    return Principal(provider=PROVIDER, issuer=api_url, subject=str(user_id), scopes=scopes,
                     display_name=login if isinstance(login, str) else None)


def _retry_after(headers: Mapping[str, str]) -> dict[str, str]:
    value = headers.get("retry-after", "")
    return {"Retry-After": value} if value.isdigit() else {}
