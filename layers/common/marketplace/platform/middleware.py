"""Authentication and rate limiting as route middlewares (``platform.router``), written once and attached to the
routes that need them (``@router.get(path, middlewares=[...])``); the route reads the caller from the routing
context (``principal(router, Principal)``) instead of authenticating by itself.

Per-route middlewares rather than router-wide ones: a router-wide middleware would also wrap the not-found
handler and CORS preflights (an unknown path would answer 401 instead of 404, and a browser's preflight would
fail), and some routes of a router are anonymous (reading reviews, vsce's location service, telemetry's 405).
The routing context is new for every request.

Both middlewares raise the platform's errors (401/403 from the authenticator, 429 with ``Retry-After`` from
``RateLimit``), which the resolver's error handler answers like any route's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from marketplace.platform.router import Middleware, NextMiddleware, Request, Response, Router

PRINCIPAL = "principal"  # the routing context's key for the authenticated caller

T = TypeVar("T")


class Limiter(Protocol):
    """What ``rate_limited`` needs of a limit: ``platform.ratelimit.RateLimit`` is one."""

    def consume(self, caller: str) -> None: ...


def authenticated(authenticate: Callable[[Request], object]) -> Middleware:
    """Authenticate each request before its route runs and keep the caller in the routing context."""

    def authentication(app: Router, next_middleware: NextMiddleware) -> Response:
        app.append_context(**{PRINCIPAL: authenticate(app.current_event)})
        return next_middleware(app)

    return authentication


def rate_limited(limit: Callable[[], Limiter], caller: Callable[[Router], str]) -> Middleware:
    """Count each request against ``caller(app)``'s window (429 over it) before its route runs.

    ``limit`` is called per request, so a route module may cache its ``RateLimit`` and tests may reset it."""

    def rate_limit(app: Router, next_middleware: NextMiddleware) -> Response:
        limit().consume(caller(app))
        return next_middleware(app)

    return rate_limit


def principal(router: Router, kind: type[T]) -> T:
    """The caller ``authenticated`` put in the routing context; a route without the middleware is a bug."""
    found = router.context.get(PRINCIPAL)
    if not isinstance(found, kind):
        raise RuntimeError(f"no {kind.__name__} in the routing context: the route lacks its authentication middleware")
    return found
