"""Authentication and rate limiting as Powertools event-handler middlewares, written once and attached to the
routes that need them (``@router.get(path, middlewares=[...])``); the route reads the caller from the routing
context (``principal(router, Principal)``) instead of authenticating by itself.

Per-route middlewares rather than ``router.use``: Powertools merges a router's middlewares into the
resolver's global ones, which also wrap the not-found handler and CORS preflights (an unknown path would
answer 401 instead of 404, and a browser's preflight would fail), and some routes of a router are anonymous
(reading reviews, vsce's location service, telemetry's 405). The context is cleared after every request.

Both middlewares raise the platform's errors (401/403 from the authenticator, 429 with ``Retry-After`` from
``RateLimit``), which the resolver's error handler answers like any route's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, BaseRouter
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

PRINCIPAL = "principal"  # the routing context's key for the authenticated caller

T = TypeVar("T")
Middleware = Callable[[ApiGatewayResolver, NextMiddleware], Response[Any]]


class Limiter(Protocol):
    """What ``rate_limited`` needs of a limit: ``platform.ratelimit.RateLimit`` is one."""

    def consume(self, caller: str) -> None: ...


def authenticated(authenticate: Callable[[BaseProxyEvent], object]) -> Middleware:
    """Authenticate each request before its route runs and keep the caller in the routing context."""

    def authentication(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        app.append_context(**{PRINCIPAL: authenticate(app.current_event)})
        return next_middleware(app)

    return authentication


def rate_limited(limit: Callable[[], Limiter], caller: Callable[[ApiGatewayResolver], str]) -> Middleware:
    """Count each request against ``caller(app)``'s window (429 over it) before its route runs.

    ``limit`` is called per request, so a route module may cache its ``RateLimit`` and tests may reset it."""

    def rate_limit(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        limit().consume(caller(app))
        return next_middleware(app)

    return rate_limit


def principal(router: BaseRouter, kind: type[T]) -> T:
    """The caller ``authenticated`` put in the routing context; a route without the middleware is a bug."""
    found = router.context.get(PRINCIPAL)
    if not isinstance(found, kind):
        raise RuntimeError(f"no {kind.__name__} in the routing context: the route lacks its authentication middleware")
    return found
