"""Parity of ``marketplace.platform.router`` with Powertools' ``APIGatewayHttpResolver``, which the API functions
used before: the same routes, middlewares, error handlers and CORS settings built on both, then the same API
Gateway HTTP API events (payload format 2.0, built by the local runtime's ``build_event``) fed to both. Every
answer must be equal: status, headers (the whole dict), cookies, ``isBase64Encoded`` and body (gzip bodies
compared decompressed, with their ``Content-Encoding``); an event one of them raises on must make the other raise
the same exception. Powertools' event handler is imported here only (it keeps the current event on a class)."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.event_handler.api_gateway import Router as PowertoolsRouter
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.local.apigw import Match, build_event
from marketplace.platform import body as bodies
from marketplace.platform import http
from marketplace.platform import router as ours
from marketplace.platform.errors import Conflict, MarketplaceError, TooManyRequests
from marketplace.platform.functions import function

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

# The functions' CORS settings, on both: ours is the one every function uses.
POWERTOOLS_CORS = CORSConfig(allow_origin=http.CORS.allow_origin, allow_headers=http.CLIENT_HEADERS,
                             expose_headers=http.EXPOSED_HEADERS, max_age=http.CORS.max_age)


@dataclass(frozen=True)
class Kit:
    """One implementation's building blocks, so that the routes below are written once for both."""

    name: str
    resolver: Callable[[bool], Any]  # with CORS or without
    router: Callable[[], Any]
    response: Callable[..., Any]
    request_id: Callable[[Any], str]


POWERTOOLS = Kit("powertools", lambda cors: APIGatewayHttpResolver(cors=POWERTOOLS_CORS if cors else None, debug=False),
                 PowertoolsRouter, PowertoolsResponse, lambda event: event.request_context.request_id)
OURS = Kit("marketplace", lambda cors: ours.Resolver(cors=http.CORS if cors else None), ours.Router, ours.Response,
           lambda event: event.request_id)
KITS = (POWERTOOLS, OURS)


def _json(kit: Kit, status: int, value: object, headers: dict[str, str] | None = None) -> Any:
    """``http.json_response`` for either kit."""
    return kit.response(status_code=status, content_type=JSON, body=json.dumps(value, separators=(",", ":")),
                        headers=dict(headers or {}))


def _error(kit: Kit, error: MarketplaceError) -> Any:
    return _json(kit, error.status, error.body(), error.headers)


def _catalog_router(kit: Kit, *, options_route: bool) -> Any:
    """Static and dynamic rules, raw regular expressions, gzip, bytes, list-valued headers and cookies."""
    router = kit.router()
    respond = kit.response

    @router.get("/static/<name>")  # registered before the static rule it overlaps: static rules still win
    def dynamic(name: str) -> Any:
        return respond(200, TEXT, f"dynamic:{name}")

    @router.get("/static/fixed")
    def static() -> Any:
        return respond(200, TEXT, "static")

    @router.get("/items/<publisher>/<name>")
    def item(publisher: str, name: str) -> Any:
        return _json(kit, 200, {"publisher": publisher, "name": name})

    @router.post("/_apis/public/gallery/extensionquery", compress=True)
    def extension_query() -> Any:
        query = bodies.json_body(router.current_event, required=False, expect=None)
        return _json(kit, 200, {"query": query, "results": [{"extensions": []}] * 20},
                     {"activityid": router.current_event.raw_event["requestContext"]["requestId"]})

    @router.get("/r/.+")
    def raw_rest() -> Any:
        return respond(200, TEXT, router.current_event.path)

    @router.get("/api/<namespace>(?:/.*)?", compress=True)
    def namespace(namespace: str) -> Any:
        return _json(kit, 200, {"namespace": namespace, "path": router.current_event.path})

    @router.get("/api/-/search", compress=True)
    def search() -> Any:
        return _json(kit, 200, {"offset": 0, "totalSize": 0, "extensions": []})

    @router.get("/api/<namespace>/<name>")  # never reached: the regular expression above, registered first, wins
    def namespace_name(namespace: str, name: str) -> Any:
        return _json(kit, 200, {"shadowed": [namespace, name]})

    @router.route("/multi/<thing>", ["GET", "PUT", "DELETE"])
    def multi(thing: str) -> Any:
        return _json(kit, 200, {"thing": thing, "method": router.current_event.http_method})

    if options_route:
        @router.route("/preflight", "OPTIONS")
        def explicit_options() -> Any:
            return respond(200, TEXT, "explicit", {"Allow": "GET, OPTIONS"})

    @router.get("/preflight")
    def preflight_get() -> Any:
        return respond(200, TEXT, "get")

    @router.get("/bytes")
    def raw_bytes() -> Any:
        return respond(200, "application/octet-stream", b"\x00\x01binary\xff\xfe")

    @router.get("/bytes-gz", compress=True)
    def bytes_gzip() -> Any:
        return respond(200, "application/octet-stream", bytes(range(256)) * 8)

    @router.get("/text-gz", compress=True)
    def text_gzip() -> Any:
        return respond(200, TEXT, "héllo wörld, " * 200)

    @router.get("/no-compress", compress=True)
    def response_refuses_gzip() -> Any:
        return respond(200, TEXT, "plain " * 50, compress=False)

    @router.get("/force-compress")
    def response_asks_gzip() -> Any:
        return respond(200, TEXT, "squeezed " * 50, compress=True)

    @router.get("/empty", compress=True)
    def empty() -> Any:
        return respond(204, None, None, {"ETag": '"1"'})

    @router.get("/redirect")
    def moved() -> Any:
        return respond(302, "text/plain", "", {"Location": "https://cdn.example.com/a%20b",
                                               "Cache-Control": "no-store"})

    @router.get("/headers")
    def headers() -> Any:
        return respond(200, TEXT, "h", {"X-Multi": ["a", "b", "c"], "Cache-Control": "no-store",
                                        "content-type": "text/x-lower-case", "Vary": ["Origin"], "X-None": None},
                       cookies=["session=abc; Path=/; HttpOnly; Secure", "theme=dark"])

    @router.get("/echo")
    def echo() -> Any:
        event = router.current_event
        request_headers = event.headers
        return _json(kit, 200, {
            "path": event.path, "method": event.http_method,
            "mixed": request_headers.get("X-Mixed-Case"), "upper": request_headers.get("X-MIXED-CASE"),
            "has_mixed": "x-MIXED-case" in request_headers, "headers": sorted(dict(request_headers).items()),
            "query": event.query_string_parameters, "q": event.get_query_string_value("q"),
            "missing": event.get_query_string_value("missing", "default"), "cookies": event.cookies,
            "raw_query": event.raw_event["rawQueryString"], "function": router.lambda_context.function_name,
        })

    @router.get("/")
    def root() -> Any:
        return respond(200, TEXT, "root")

    @router.get("/json-none")
    def json_without_body() -> Any:
        return respond(204, JSON)

    @router.get("/json-bytes")
    def json_bytes() -> Any:
        return respond(200, JSON, b'{"a":1}')

    return router


def _protected_router(kit: Kit) -> Any:
    """Per-route middlewares (one fills the routing context, one refuses with a domain error) and errors."""
    router = kit.router()

    def tag(app: Any, next_middleware: Any) -> Any:
        app.append_context(tag="tagged")
        response = next_middleware(app)
        response.headers["X-Tag"] = str(app.context.get("tag"))
        return response

    def refuse(app: Any, next_middleware: Any) -> Any:
        if app.current_event.headers.get("x-refuse"):
            raise TooManyRequests("Too many requests", retry_after_seconds=7)
        if app.current_event.headers.get("x-short"):  # answers without calling the route
            return kit.response(203, TEXT, "short-circuited")
        return next_middleware(app)

    @router.get("/private/<thing>", middlewares=[tag, refuse])
    def private(thing: str) -> Any:
        return _json(kit, 200, {"thing": thing, "tag": router.context.get("tag")})

    @router.get("/private-gz", compress=True, middlewares=[refuse])
    def private_gzip() -> Any:
        return _json(kit, 200, {"rows": list(range(300))})

    @router.get("/context")
    def context() -> Any:
        return _json(kit, 200, {"tag": router.context.get("tag")})

    @router.get("/fail/conflict")
    def fail_conflict() -> Any:
        raise Conflict("taken")  # a subclass: its handler is MarketplaceError's, found along the hierarchy

    @router.get("/fail/domain")
    def fail_domain() -> Any:
        raise MarketplaceError("plain domain error", headers={"X-Why": "because"})

    @router.get("/fail/lookup", compress=True)
    def fail_lookup() -> Any:
        raise KeyError("missing key")  # the router's LookupError handler is closer than the app's Exception one

    @router.get("/fail/unexpected")
    def fail_unexpected() -> Any:
        raise RuntimeError("boom")

    @router.exception_handler(LookupError)
    def lookup(error: LookupError) -> Any:
        return _json(kit, 410, {"error": "gone", "message": str(error)})

    return router


def build(kit: Kit, *, cors: bool = True, handlers: bool = True, options_route: bool = True) -> Any:
    """A resolver shaped like ``http.http_app``'s (its not-found, domain-error and catch-all handlers), with the
    two routers above."""
    app = kit.resolver(cors)
    if handlers:
        @app.not_found
        def _not_found(_: Exception) -> Any:
            event = app.current_event
            return _json(kit, 404, {"error": "not_found", "message": f"No route for {event.http_method} {event.path}"})

        @app.exception_handler(MarketplaceError)
        def _domain_error(error: MarketplaceError) -> Any:
            return _error(kit, error)

        @app.exception_handler(Exception)
        def _unexpected(error: Exception) -> Any:
            request_id = kit.request_id(app.current_event)
            return _json(kit, 500, {"error": "internal_error", "message": f"Internal error (request {request_id})"})

    app.include_router(_catalog_router(kit, options_route=options_route))
    app.include_router(_protected_router(kit))
    return app


# The functions as they are: CORS, http_app's handlers; "publish" has an explicit OPTIONS route (publish_api has
# two), "gallery" has none (gallery, sync, reviews and telemetry); "bare" has neither CORS nor handlers.
VARIANTS: dict[str, dict[str, Any]] = {
    "publish": {"options_route": True},
    "gallery": {"options_route": False},
    "bare": {"cors": False, "handlers": False},
}
APPS = {variant: {kit.name: build(kit, **options) for kit in KITS} for variant, options in VARIANTS.items()}

_FUNCTION = function("gallery")
BROWSER = "https://workbench.example"


def event(method: str, path: str, *, query: str = "", headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
          stage: str = "$default", raw_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The event the local runtime sends (``apigw.build_event``), with ``stage`` and ``rawPath`` as API Gateway
    sends them for a named stage, ``raw_headers`` for front doors that do not lower-case header names, and the
    method as given (``build_event`` upper-cases it)."""
    built = build_event(method=method, raw_path=path, raw_query=query,
                        headers=[("host", "api.example.com"), ("user-agent", "parity/1.0"), *headers], body=body,
                        source_ip="203.0.113.9", match=Match(_FUNCTION, "$default", {}),
                        domain_name="api.example.com")
    built["requestContext"]["stage"] = stage
    built["requestContext"]["http"]["method"] = method
    if raw_headers is not None:
        built["headers"] = dict(raw_headers)
    return built


QUERY = json.dumps({"filters": [{"criteria": [{"filterType": 10, "value": "x" * 900}], "pageSize": 50}],
                    "flags": 950}).encode()
ORIGIN = [("origin", BROWSER)]
GZIP = [("accept-encoding", "gzip, deflate, br")]

CASES: list[tuple[str, str, dict[str, Any]]] = [
    # precedence
    ("static beats an earlier dynamic rule", "publish", event("GET", "/static/fixed")),
    ("dynamic rule", "publish", event("GET", "/static/other")),
    ("two parameters", "publish", event("GET", "/items/pub-lisher/na.me")),
    ("static beats the regex rule", "publish", event("GET", "/api/-/search")),
    ("regex rule with a parameter, no rest", "publish", event("GET", "/api/redhat")),
    ("regex rule with a parameter and a rest", "publish", event("GET", "/api/redhat/java/1.0.0/file/x.vsix")),
    ("raw regex rule", "publish", event("GET", "/r/one/two/three.txt")),
    ("raw regex rule needs one character", "publish", event("GET", "/r/")),
    ("root", "publish", event("GET", "/")),
    # unusual characters in parameters
    ("percent-encoded space", "publish", event("GET", "/static/a%20b")),
    ("decoded space", "publish", event("GET", "/static/a b")),
    ("percent-encoded slash", "publish", event("GET", "/static/a%2Fb")),
    ("a parameter that would need a slash", "publish", event("GET", "/static/a/b")),
    ("sub-delimiters and brackets", "publish", event("GET", "/static/a!$&'()*+,;=:@~[]{}|^<>")),
    ("non-ASCII letters", "publish", event("GET", "/static/h%C3%A9llo-héllo")),
    ("a double quote is not a parameter character", "publish", event("GET", '/static/a"b')),
    ("a backslash is not a parameter character", "publish", event("GET", "/static/a\\b")),
    ("empty parameter", "publish", event("GET", "/static/")),
    ("underscore, digits and other numbers", "publish", event("GET", "/static/a_1\u0663\u00b2\u2168")),
    ("a combining mark is not a word character", "publish", event("GET", "/static/e\u0301")),
    ("fullwidth and CJK letters", "publish", event("GET", "/items/\uff21\uff22/\u6f22\u5b57")),
    ("control characters", "publish", event("GET", "/static/a\tb")),
    ("a final newline after a parameter", "publish", event("GET", "/static/abc\n")),
    ("a final newline after a literal", "publish", event("GET", "/static/fixed\n")),
    ("two final newlines", "publish", event("GET", "/static/abc\n\n")),
    ("a newline inside a parameter", "publish", event("GET", "/items/a\nb/c")),
    ("a final newline on a regex rule", "publish", event("GET", "/api/redhat\n")),
    ("trailing slash on a static rule", "publish", event("GET", "/static/fixed/")),
    ("trailing slash on a two-parameter rule", "publish", event("GET", "/items/a/b/")),
    ("double slash", "publish", event("GET", "//static/fixed")),
    # not found, methods
    ("unknown path", "publish", event("GET", "/nowhere")),
    ("unknown path from a browser", "publish", event("GET", "/nowhere", headers=ORIGIN)),
    ("wrong method on a known path", "publish", event("POST", "/static/fixed")),
    ("HEAD is not GET", "publish", event("HEAD", "/static/fixed")),
    ("a route for a list of methods: GET", "publish", event("GET", "/multi/x")),
    ("a route for a list of methods: DELETE", "publish", event("DELETE", "/multi/x")),
    ("a route for a list of methods: POST is not one", "publish", event("POST", "/multi/x")),
    # CORS
    ("simple request with Origin", "publish", event("GET", "/static/fixed", headers=ORIGIN)),
    ("simple request with a null Origin", "publish", event("GET", "/static/fixed", headers=[("origin", "null")])),
    ("simple request with an empty Origin", "publish", event("GET", "/static/fixed", headers=[("origin", "")])),
    ("two Origin lines", "publish", event("GET", "/static/fixed", headers=[*ORIGIN, ("origin", "https://b.example")])),
    ("preflight on an unknown path with Origin", "publish",
     event("OPTIONS", "/nowhere", headers=[*ORIGIN, ("access-control-request-method", "PUT")])),
    ("preflight on an unknown path without Origin", "publish", event("OPTIONS", "/nowhere")),
    ("preflight on a GET-only path", "publish", event("OPTIONS", "/static/fixed", headers=ORIGIN)),
    ("explicit OPTIONS route", "publish", event("OPTIONS", "/preflight", headers=ORIGIN)),
    ("preflight, no OPTIONS route anywhere, with Origin", "gallery", event("OPTIONS", "/nowhere", headers=ORIGIN)),
    ("preflight, no OPTIONS route anywhere, without Origin", "gallery", event("OPTIONS", "/preflight")),
    ("error answer from a browser", "publish", event("GET", "/fail/conflict", headers=ORIGIN)),
    # bodies: str, bytes, gzip
    ("extensionquery with gzip", "publish",
     event("POST", "/_apis/public/gallery/extensionquery", body=QUERY,
           headers=[("content-type", "application/json"), *GZIP, *ORIGIN])),
    ("extensionquery without Accept-Encoding", "publish",
     event("POST", "/_apis/public/gallery/extensionquery", body=QUERY, headers=[("content-type", JSON)])),
    ("extensionquery with only deflate", "publish",
     event("POST", "/_apis/public/gallery/extensionquery", body=QUERY,
           headers=[("content-type", JSON), ("accept-encoding", "deflate")])),
    ("extensionquery with a base64 body", "publish",
     event("POST", "/_apis/public/gallery/extensionquery", body=QUERY, headers=[("content-type", "application/x")])),
    ("extensionquery with a bad body", "publish",
     event("POST", "/_apis/public/gallery/extensionquery", body=b"{nope", headers=[("content-type", JSON)])),
    ("extensionquery with an empty body", "publish", event("POST", "/_apis/public/gallery/extensionquery")),
    ("Accept-Encoding on two lines", "publish",
     event("GET", "/text-gz", headers=[("accept-encoding", "deflate"), ("accept-encoding", "gzip")])),
    ("gzip of text", "publish", event("GET", "/text-gz", headers=GZIP)),
    ("gzip of bytes", "publish", event("GET", "/bytes-gz", headers=GZIP)),
    ("bytes without gzip", "publish", event("GET", "/bytes-gz")),
    ("bytes body", "publish", event("GET", "/bytes", headers=GZIP)),
    ("the response refuses gzip", "publish", event("GET", "/no-compress", headers=GZIP)),
    ("the response asks for gzip", "publish", event("GET", "/force-compress", headers=GZIP)),
    ("the response asks for gzip, not accepted", "publish", event("GET", "/force-compress")),
    ("gzip route on a regex rule", "publish", event("GET", "/api/redhat/java", headers=GZIP)),
    ("no body on a gzip route", "publish", event("GET", "/empty", headers=GZIP)),
    ("redirect", "publish", event("GET", "/redirect", headers=ORIGIN)),
    ("list-valued headers and cookies", "publish", event("GET", "/headers", headers=ORIGIN)),
    # the request as routes read it
    ("mixed-case header names, repeated query parameters, cookies", "publish",
     event("GET", "/echo", query="q=a&q=b&x=%20y&empty=&q=c",
           headers=[("cookie", "a=1; b=2"), ("cookie", "c=3")],
           raw_headers={"Host": "api.example.com", "X-Mixed-Case": "Value", "ACCEPT-ENCODING": "gzip",
                        "Origin": BROWSER})),
    ("duplicate header lines", "publish",
     event("GET", "/echo", headers=[("x-mixed-case", "one"), ("x-mixed-case", "two")])),
    ("mixed-case Accept-Encoding on a gzip route", "publish",
     event("GET", "/text-gz", raw_headers={"Accept-Encoding": "gzip", "Origin": BROWSER})),
    ("mixed-case preflight", "publish", event("OPTIONS", "/nowhere", raw_headers={"ORIGIN": BROWSER})),
    # stages
    ("named stage", "publish", event("GET", "/prod/static/fixed", stage="prod")),
    ("named stage, echo", "publish", event("GET", "/prod/echo", stage="prod", query="q=1")),
    ("named stage, not found", "publish", event("GET", "/prod/nowhere", stage="prod")),
    # middlewares and errors
    ("per-route middlewares", "publish", event("GET", "/private/thing", headers=ORIGIN)),
    ("a middleware refuses with a domain error", "publish",
     event("GET", "/private/thing", headers=[("x-refuse", "1"), *ORIGIN])),
    ("a middleware refuses on a gzip route", "publish",
     event("GET", "/private-gz", headers=[("x-refuse", "1"), *GZIP])),
    ("a middleware lets a gzip route through", "publish", event("GET", "/private-gz", headers=GZIP)),
    ("a middleware answers by itself", "publish", event("GET", "/private/x", headers=[("x-short", "1"), *GZIP])),
    ("a middleware answers by itself on a gzip route", "publish",
     event("GET", "/private-gz", headers=[("x-short", "1"), *GZIP])),
    ("the routing context without the middleware", "publish", event("GET", "/context")),
    ("domain error found along the class hierarchy", "publish", event("GET", "/fail/conflict")),
    ("domain error with its own headers", "publish", event("GET", "/fail/domain")),
    ("a router's handler closer than the app's", "publish", event("GET", "/fail/lookup", headers=GZIP)),
    ("unexpected error", "publish", event("GET", "/fail/unexpected", headers=ORIGIN)),
    # no CORS, no handlers
    ("bare: unknown path", "bare", event("GET", "/nowhere", headers=ORIGIN)),
    ("bare: preflight", "bare", event("OPTIONS", "/nowhere", headers=ORIGIN)),
    ("bare: a route from a browser", "bare", event("GET", "/static/fixed", headers=ORIGIN)),
    ("bare: domain error without a handler", "bare", event("GET", "/fail/conflict")),
    ("bare: the router's handler still answers", "bare", event("GET", "/fail/lookup")),
    ("bare: a middleware refuses without a handler", "bare", event("GET", "/private/x", headers=[("x-refuse", "1")])),
]

# Events API Gateway never sends (the method is upper case, every event has a stage), kept apart: the resolvers
# must still agree on them.
ODD_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("lower-case method", "publish", event("get", "/static/fixed")),
]

# Where the router answers differently on purpose: each answer Powertools gives here is a bug or cannot be
# sent by API Gateway, and what ours gives instead is asserted (routes return a ``Response``, never a dict:
# mypy holds them to it).
DELIBERATE: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # Powertools sends the body "null"; no body is what the route asked for
    ("a JSON response without a body", event("GET", "/json-none"), {"statusCode": 204, "body": None}, {}),
    # Powertools raises TypeError (bytes are not JSON serializable); bytes are sent as they are, base64-encoded
    ("a JSON response with a bytes body", event("GET", "/json-bytes"),
     {"statusCode": 200, "body": "eyJhIjoxfQ==", "isBase64Encoded": True}, {}),
    # Powertools routes the empty path ("No route for GET "); the stage's root is "/"
    ("named stage, the stage's root", event("GET", "/prod", stage="prod"), {"statusCode": 200}, {}),
    # Powertools cuts len("/prod") characters off any path, answering 404 for "ic/fixed"; a path without the
    # stage's prefix is routed as it is
    ("named stage, a path without the stage (custom domain)", event("GET", "/static/fixed", stage="prod"),
     {"statusCode": 200}, {}),
    # the method is read in upper case everywhere, the 404 message included
    ("lower-case method, not found", event("post", "/nowhere"), {"statusCode": 404},
     {"message": "No route for POST /nowhere"}),
]


LAMBDA_CONTEXT = SimpleNamespace(function_name="gallery", aws_request_id="lambda-request-1")


def outcome(app: Any, request: dict[str, Any]) -> dict[str, Any]:
    """What ``app`` answers, comparable: a gzip body decompressed, an exception by type and message."""
    try:
        answer: dict[str, Any] = app.resolve(copy.deepcopy(request), LAMBDA_CONTEXT)
    except Exception as error:
        return {"raised": type(error).__name__, "message": str(error)}
    answer = dict(answer)
    if (answer.get("headers") or {}).get("Content-Encoding") == "gzip" and answer.get("isBase64Encoded"):
        answer["body"] = ("gunzipped", gzip.decompress(base64.b64decode(answer["body"])))
    return answer


@pytest.mark.parametrize(("variant", "request_event"), [pytest.param(v, e, id=name) for name, v, e in CASES])
def test_both_answer_the_same(variant: str, request_event: dict[str, Any]) -> None:
    apps = APPS[variant]
    expected = outcome(apps["powertools"], request_event)
    assert outcome(apps["marketplace"], request_event) == expected


@pytest.mark.parametrize(("variant", "request_event"), [pytest.param(v, e, id=name) for name, v, e in ODD_CASES])
def test_both_answer_the_same_to_events_api_gateway_never_sends(variant: str, request_event: dict[str, Any]) -> None:
    apps = APPS[variant]
    assert outcome(apps["marketplace"], request_event) == outcome(apps["powertools"], request_event)


_SEGMENT = st.one_of(
    st.sampled_from(["static", "fixed", "items", "api", "-", "search", "r", "multi", "private", "preflight", ""]),
    st.text(st.one_of(st.characters(), st.sampled_from(list("%<>[]{}|^ \n\t._~-!$&'()*+,;=:@\"\\"))), max_size=6),
)
_PATHS = st.lists(_SEGMENT, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]), path=_PATHS)
def test_both_answer_the_same_to_any_path(method: str, path: str) -> None:
    """Whatever the path, the same rule answers (or neither does) with the same arguments."""
    request = event(method, path, headers=ORIGIN)
    apps = APPS["publish"]
    assert outcome(apps["marketplace"], request) == outcome(apps["powertools"], request)


def test_the_table_covers_what_it_claims() -> None:
    """A guard on the table itself: the answers it compares are not all the same 404."""
    answers = [outcome(APPS[variant]["marketplace"], request) for _, variant, request in CASES]
    statuses = {answer.get("statusCode") for answer in answers}
    assert {200, 204, 302, 404, 409, 410, 429, 500} <= statuses
    assert any(answer.get("headers", {}).get("Content-Encoding") == "gzip" for answer in answers)
    assert any(answer.get("isBase64Encoded") and "Content-Encoding" not in answer["headers"] for answer in answers)
    assert any("raised" in answer for answer in answers)


def test_gzip_bodies_are_byte_for_byte_the_same() -> None:
    """Beyond the decompressed bytes: the same compressor settings give the same compressed bytes."""
    request = event("GET", "/text-gz", headers=GZIP)
    answers = [APPS["publish"][kit.name].resolve(copy.deepcopy(request), None) for kit in KITS]
    assert answers[0]["headers"]["Content-Encoding"] == "gzip"
    assert answers[0] == answers[1]


def test_the_routing_context_is_empty_at_the_next_request() -> None:
    for kit in KITS:
        app = APPS["publish"][kit.name]
        tagged = app.resolve(event("GET", "/private/x"), None)
        assert json.loads(tagged["body"])["tag"] == "tagged", kit.name
        assert tagged["headers"]["X-Tag"] == "tagged", kit.name
        after = app.resolve(event("GET", "/context"), None)
        assert json.loads(after["body"]) == {"tag": None}, kit.name


def test_an_exception_without_a_handler_propagates_from_both() -> None:
    raised = [outcome(APPS["bare"][kit.name], event("GET", "/fail/unexpected")) for kit in KITS]
    assert raised[0] == raised[1] == {"raised": "RuntimeError", "message": "boom"}


def test_a_route_registered_on_the_resolver_itself() -> None:
    """The resolver is a router too: a route registered on it directly answers like an included router's."""
    answers = []
    for kit in KITS:
        app = kit.resolver(True)

        @app.get("/on-the-resolver")
        def on_the_resolver(kit: Kit = kit) -> Any:
            return kit.response(200, TEXT, "here")

        app.include_router(_catalog_router(kit, options_route=False))
        answers.append([outcome(app, event(method, path, headers=ORIGIN))
                        for method, path in (("GET", "/on-the-resolver"), ("OPTIONS", "/nowhere"))])
    assert answers[1] == answers[0]


@pytest.mark.parametrize(("request_event", "expected", "expected_body"),
                         [pytest.param(e, a, b, id=name) for name, e, a, b in DELIBERATE])
def test_where_the_router_differs_on_purpose(request_event: dict[str, Any], expected: dict[str, Any],
                                             expected_body: dict[str, Any]) -> None:
    apps = APPS["publish"]
    ours, theirs = outcome(apps["marketplace"], request_event), outcome(apps["powertools"], request_event)
    assert ours != theirs  # when Powertools changes, this list is out of date
    assert {key: ours.get(key) for key in expected} == expected
    if expected_body:
        assert {key: json.loads(ours["body"]).get(key) for key in expected_body} == expected_body


def test_the_same_rule_registered_twice_on_one_router_is_refused() -> None:
    """A rule and method registered twice (a copy-paste slip): Powertools warns and answers with the last one;
    the router refuses it when the module is imported, naming the rule."""
    router = ours.Router()

    @router.get("/twice")
    def first() -> Any:
        return ours.Response(200, TEXT, "first")

    with pytest.raises(ValueError, match="GET /twice is registered twice"):
        @router.get("/twice")
        def second() -> Any:
            return ours.Response(200, TEXT, "second")
