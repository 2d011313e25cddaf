"""The HTTP router of every API function: API Gateway HTTP API (payload format 2.0) events in, proxy responses out.

It keeps the programming model of Powertools' event handler, which the functions used before (routers with
``@router.get("/api/<namespace>")`` rules, per-route middlewares ``(app, next_middleware) -> Response``, exception
handlers looked up along the exception's class hierarchy, a not-found handler, CORS and gzip per route) and
answers the same bytes for the same event. It exists because importing Powertools' ``event_handler`` package
costs every HTTP function about 35 ms of cold start (its package imports the AppSync, Bedrock and VPC Lattice
resolvers, asyncio, and every event source's data class), which ``./dev bench --only http-router`` measures
against this module in one run. What the router does and why: docs/http-router.md.

Request state (the event, the Lambda context, the routing context the middlewares fill) lives in a context
variable, so one resolver may serve requests on several threads without mixing them.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from marketplace.platform.headers import lowered_headers

_DYNAMIC = re.compile(r"(<\w+>)")
# A path parameter holds RFC 3986's unreserved and sub-delimiter characters, and the characters API Gateway
# passes through decoded; never "/" (a parameter is one path segment).
_PARAMETER = r"(?P\1[-._~()'!*:@,;=+&$%<> \[\]{}|^\\w]+)"
_WHOLE_PARAMETER = re.compile(r"<\w+>")
_METACHARACTERS = frozenset(".^$*+?{}[]\\|()<>")
# the same characters as _PARAMETER's class, "\w" being what str.isalnum() accepts, and "_"
_PARAMETER_CHARACTERS = frozenset("-._~()'!*:@,;=+&$%<> []{}|^_")
JSON = "application/json"
# always allowed by a preflight answer, before the configured ones (what the functions answered before)
_REQUIRED_CORS_HEADERS = ("Authorization", "Content-Type", "X-Amz-Date", "X-Api-Key", "X-Amz-Security-Token")


class Response:
    """What a route answers. A ``bytes`` body is sent base64-encoded; ``content_type`` becomes the
    ``Content-Type`` header unless ``headers`` names one; ``compress`` overrides the route's gzip setting."""

    __slots__ = ("body", "compress", "cookies", "headers", "status_code")

    def __init__(self, status_code: int, content_type: str | None = None, body: str | bytes | None = None,
                 headers: Mapping[str, str | list[str]] | None = None, cookies: list[str] | None = None,
                 compress: bool | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, str | list[str]] = dict(headers) if headers else {}
        self.cookies = list(cookies or [])
        self.compress = compress
        if content_type:
            self.headers.setdefault("Content-Type", content_type)


class Headers(Mapping[str, str]):
    """Request headers looked up in any case (API Gateway passes them lower-cased; tests and other front doors
    may not); iterating yields the lower-case names."""

    __slots__ = ("_by_name",)

    def __init__(self, headers: Mapping[str, str] | None) -> None:
        self._by_name = lowered_headers(headers)

    def __getitem__(self, name: str) -> str:
        return self._by_name[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._by_name.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


class Request(Mapping[str, Any]):
    """The API Gateway HTTP API event (payload format 2.0) of the current request. It is also the event itself as
    a read-only mapping, for the helpers that take the raw event (``platform.body``)."""

    __slots__ = ("_headers", "raw_event")

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.raw_event = event
        self._headers: Headers | None = None

    def __getitem__(self, key: str) -> Any:
        return self.raw_event[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw_event)

    def __len__(self) -> int:
        return len(self.raw_event)

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.raw_event.get("headers"))
        return self._headers

    @property
    def query_string_parameters(self) -> dict[str, str]:
        """Query parameters; a name given several times has its values joined with commas (payload 2.0)."""
        return dict(self.raw_event.get("queryStringParameters") or {})

    def get_query_string_value(self, name: str, default: str | None = None) -> str | None:
        return self.query_string_parameters.get(name, default)

    @property
    def cookies(self) -> list[str]:
        return list(self.raw_event.get("cookies") or [])

    @property
    def _request_context(self) -> Mapping[str, Any]:
        return self.raw_event.get("requestContext") or {}

    @property
    def http_method(self) -> str:
        return str((self._request_context.get("http") or {}).get("method", "")).upper()

    @property
    def request_id(self) -> str:
        return str(self._request_context.get("requestId") or "")

    @property
    def path(self) -> str:
        """The raw path without the stage's prefix (a named stage prefixes it; ``$default`` does not)."""
        raw = str(self.raw_event.get("rawPath") or "/")
        stage = self._request_context.get("stage")
        if stage and stage != "$default" and raw.startswith(f"/{stage}"):
            return raw[len(stage) + 1:] or "/"
        return raw


NextMiddleware = Callable[["Router"], "Response"]
Middleware = Callable[["Router", NextMiddleware], Response]
RouteFunction = Callable[..., Response]
ExceptionHandler = Callable[[Any], Response]


class NotFoundError(Exception):
    """No route matches the request's method and path (what ``not_found`` handlers receive)."""


class Route:
    """One method and rule. A rule made of literal segments and whole-segment ``<name>`` parameters (nearly all
    of them) is matched segment by segment; any other rule is a regular expression, compiled once. Both match
    what ``^rule$`` with every ``<name>`` as ``(?P<name>[...]+)`` matches: compiling a regular expression per
    route cost the gallery about 4 ms of cold start."""

    __slots__ = (
        "compress",
        "function",
        "method",
        "middlewares",
        "parameters",
        "pattern",
        "rule",
        "segments",
    )

    def __init__(self, method: str, rule: str, function: RouteFunction, compress: bool,
                 middlewares: list[Middleware]) -> None:
        self.method = method.upper()
        self.rule = rule
        self.function = function
        self.compress = compress
        self.middlewares = middlewares
        parts = rule.split("/")
        self.segments: tuple[tuple[str | None, str], ...] | None = None
        self.pattern: re.Pattern[str] | None = None
        if all(_WHOLE_PARAMETER.fullmatch(part) or not _METACHARACTERS.intersection(part) for part in parts):
            self.segments = tuple((part[1:-1], part) if part.startswith("<") else (None, part) for part in parts)
            self.parameters = sum(1 for name, _ in self.segments if name is not None)
        else:
            self.pattern = re.compile(f"^{_DYNAMIC.sub(_PARAMETER, rule)}$")
            self.parameters = self.pattern.groups

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` matches the rule, else ``None``."""
        if self.pattern is not None:
            found = self.pattern.match(path)
            return found.groupdict() if found else None
        assert self.segments is not None
        if path.endswith("\n"):  # "$" matches before a final newline; so does this, to keep one meaning
            path = path[:-1]
        parts = path.split("/")
        if len(parts) != len(self.segments):
            return None
        arguments: dict[str, str] = {}
        for part, (name, literal) in zip(parts, self.segments, strict=True):
            if name is None:
                if part != literal:
                    return None
            elif part and all(c in _PARAMETER_CHARACTERS or c.isalnum() for c in part):
                arguments[name] = part
            else:
                return None
        return arguments


class _Call:
    """One request's state."""

    __slots__ = ("context", "lambda_context", "request")

    def __init__(self, request: Request, lambda_context: Any) -> None:
        self.request = request
        self.lambda_context = lambda_context
        self.context: dict[str, Any] = {}


_CURRENT: ContextVar[_Call] = ContextVar("marketplace_http_request")


class Router:
    """A group of routes (one per capability module); a ``Resolver`` includes routers and answers events."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.exception_handlers: dict[type[BaseException], ExceptionHandler] = {}

    def route(self, rule: str, method: str | list[str] | tuple[str, ...], *, compress: bool = False,
              middlewares: list[Middleware] | None = None) -> Callable[[RouteFunction], RouteFunction]:
        """Register the decorated function for ``rule`` (``<name>`` is one path segment, passed as the keyword
        argument ``name``; the rest is a regular expression matched against the whole raw path)."""

        def register(function: RouteFunction) -> RouteFunction:
            for one in (method,) if isinstance(method, str) else method:
                self._add(Route(one, rule, function, compress, list(middlewares or [])))
            return function

        return register

    def _add(self, route: Route) -> None:
        if any(known.method == route.method and known.rule == route.rule for known in self.routes):
            raise ValueError(f"{route.method} {route.rule} is registered twice")
        self.routes.append(route)

    def get(self, rule: str, *, compress: bool = False,
            middlewares: list[Middleware] | None = None) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "GET", compress=compress, middlewares=middlewares)

    def post(self, rule: str, *, compress: bool = False,
             middlewares: list[Middleware] | None = None) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "POST", compress=compress, middlewares=middlewares)

    def put(self, rule: str, *, compress: bool = False,
            middlewares: list[Middleware] | None = None) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "PUT", compress=compress, middlewares=middlewares)

    def delete(self, rule: str, *, compress: bool = False,
               middlewares: list[Middleware] | None = None) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "DELETE", compress=compress, middlewares=middlewares)

    def patch(self, rule: str, *, compress: bool = False,
              middlewares: list[Middleware] | None = None) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "PATCH", compress=compress, middlewares=middlewares)

    def exception_handler(self, kind: type[BaseException]) -> Callable[[ExceptionHandler], ExceptionHandler]:
        """Answer exceptions of ``kind`` (and its subclasses, unless a closer class has its own handler)."""

        def register(handler: ExceptionHandler) -> ExceptionHandler:
            self.exception_handlers[kind] = handler
            return handler

        return register

    def not_found(self, handler: ExceptionHandler) -> ExceptionHandler:
        """Answer requests no route matches (the handler receives a ``NotFoundError``)."""
        return self.exception_handler(NotFoundError)(handler)

    # What routes and middlewares read about the request being answered.
    @property
    def current_event(self) -> Request:
        return _CURRENT.get().request

    @property
    def lambda_context(self) -> Any:
        return _CURRENT.get().lambda_context

    @property
    def context(self) -> dict[str, Any]:
        """The routing context: what middlewares left for the route; empty again at the next request."""
        return _CURRENT.get().context

    def append_context(self, **values: Any) -> None:
        self.context.update(values)


class CorsConfig:
    """Cross-origin answers: the allowed origin, the request headers a preflight allows, the response headers a
    browser may read, and how long it may cache a preflight."""

    def __init__(self, allow_origin: str = "*", allow_headers: list[str] | None = None,
                 expose_headers: list[str] | None = None, max_age: int | None = None) -> None:
        self.allow_origin = allow_origin
        self.allow_headers = ",".join(sorted({*_REQUIRED_CORS_HEADERS, *(allow_headers or [])}))
        self.expose_headers = ",".join(expose_headers or [])
        self.max_age = max_age

    def headers(self, origin: str | None) -> dict[str, str]:
        """The headers for a request from ``origin`` (none for a request without ``Origin``, or from an origin
        that is not allowed; an empty ``Origin`` is a request from an unknown origin, answered as ``*``)."""
        if origin is None:
            return {}
        if self.allow_origin == "*":
            allowed = "*"
        elif origin == self.allow_origin:
            allowed = origin
        else:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Headers": self.allow_headers}
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = self.expose_headers
        if self.max_age is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        return headers


class Resolver(Router):
    """Answers one function's events with the routes of the routers it includes. Static rules are tried before
    rules with parameters, each group in the order the routes were registered; the first match answers."""

    def __init__(self, cors: CorsConfig | None = None) -> None:
        super().__init__()
        self.cors = cors
        self._static: list[Route] = []
        self._dynamic: list[Route] = []
        self._cors_methods: set[str] = {"OPTIONS"}  # a preflight's own method is always allowed
        self._not_found_route = Route("ANY", "/", self._not_found, False, [])

    def include_router(self, router: Router) -> None:
        self.exception_handlers.update(router.exception_handlers)
        for route in router.routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        super()._add(route)
        (self._dynamic if route.parameters else self._static).append(route)
        if self.cors is not None:
            self._cors_methods.add(route.method)

    def resolve(self, event: Mapping[str, Any], lambda_context: Any) -> dict[str, Any]:
        request = Request(event)
        token = _CURRENT.set(_Call(request, lambda_context))
        try:
            method, path = request.http_method, request.path
            for route in (*self._static, *self._dynamic):
                if route.method == method:
                    arguments = route.match(path)
                    if arguments is not None:
                        return self._answer(route, arguments)
            return self._answer(self._not_found_route, {})
        finally:
            _CURRENT.reset(token)

    def _not_found(self) -> Response:
        if self.cors is not None and self.current_event.http_method == "OPTIONS":  # a browser's preflight
            return Response(204, None, "", {"Access-Control-Allow-Methods": ",".join(sorted(self._cors_methods))})
        handler = self._handler_for(NotFoundError)
        if handler is not None:
            return handler(NotFoundError())
        return Response(404, JSON, json.dumps({"statusCode": 404, "message": "Not found"}, separators=(",", ":")))

    def _handler_for(self, kind: type[BaseException]) -> ExceptionHandler | None:
        for cls in kind.__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    def _answer(self, route: Route, arguments: dict[str, str]) -> dict[str, Any]:
        def call_route(_: Router) -> Response:
            return route.function(**arguments)

        chain: NextMiddleware = call_route
        for middleware in reversed(route.middlewares):
            chain = _link(middleware, chain)
        try:
            response = chain(self)
        except Exception as error:
            handler = self._handler_for(type(error))
            if handler is None:
                raise
            response = handler(error)
        return self._serialize(route, response)

    def _serialize(self, route: Route, response: Response) -> dict[str, Any]:
        headers = response.headers
        request = self.current_event
        if self.cors is not None:  # every answer, the not-found one included
            headers.update(self.cors.headers(request.headers.get("origin")))
        compress = response.compress if response.compress is not None else route.compress
        if compress and response.body is not None and "gzip" in (request.headers.get("accept-encoding") or ""):
            headers["Content-Encoding"] = "gzip"
            raw = response.body.encode() if isinstance(response.body, str) else response.body
            gzip = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
            response.body = gzip.compress(raw) + gzip.flush()
        body, encoded = response.body, False
        if isinstance(body, bytes):
            body, encoded = base64.b64encode(body).decode(), True
        return {
            "statusCode": response.status_code,
            "body": body,
            "isBase64Encoded": encoded,
            "headers": {name: value if isinstance(value, str) else ", ".join(value)
                        for name, value in headers.items() if value is not None},
            "cookies": [str(cookie) for cookie in response.cookies],
        }


def _link(middleware: Middleware, following: NextMiddleware) -> NextMiddleware:
    def step(app: Router) -> Response:
        return middleware(app, following)

    return step
