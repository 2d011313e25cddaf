"""``marketplace.platform.router`` on its own, for what parity with Powertools does not cover: request state per
thread, the routing context of one request only, case-insensitive headers, the stage in the path, and an
exception nothing handles."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from marketplace.platform.router import Headers, NextMiddleware, Request, Resolver, Response, Router
from tests.integration.events import http_event

TEXT = "text/plain"


def _event(path: str, *, method: str = "GET", stage: str = "$default", request_id: str = "req-1",
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = http_event(method, path, f"{method} {path}", headers)
    event["requestContext"]["stage"] = stage
    event["requestContext"]["requestId"] = request_id
    return event


def _remember(app: Router, next_middleware: NextMiddleware) -> Response:
    """Puts the request's own id in the routing context, for the route to read back."""
    app.append_context(seen_by_middleware=app.current_event.request_id)
    return next_middleware(app)


def test_two_requests_in_flight_on_one_resolver_never_see_each_others_state() -> None:
    router = Router()
    both_in_flight = threading.Barrier(2, timeout=10)

    @router.get("/slow/<name>", middlewares=[_remember])
    def slow(name: str) -> Response:
        before = (router.current_event.path, router.context.get("seen_by_middleware"), router.lambda_context.name)
        both_in_flight.wait()  # the other request has set its own event and context by now
        after = (router.current_event.path, router.context.get("seen_by_middleware"), router.lambda_context.name)
        return Response(200, TEXT, f"{name}|{before}|{after}|{sorted(router.context)}")

    app = Resolver()
    app.include_router(router)
    answers: dict[str, str] = {}
    errors: list[BaseException] = []

    def call(name: str) -> None:
        try:
            answer = app.resolve(_event(f"/slow/{name}", request_id=f"id-{name}"), SimpleNamespace(name=f"ctx-{name}"))
            answers[name] = answer["body"]
        except BaseException as error:  # a broken barrier or a mixed-up request: fail the test, not the thread
            errors.append(error)

    threads = [threading.Thread(target=call, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    for name in ("a", "b"):
        own = (f"/slow/{name}", f"id-{name}", f"ctx-{name}")
        assert answers[name] == f"{name}|{own}|{own}|['seen_by_middleware']"


def test_the_routing_context_is_empty_at_the_next_request() -> None:
    router = Router()
    seen: list[dict[str, Any]] = []

    @router.get("/tagged", middlewares=[_remember])
    def tagged() -> Response:
        router.append_context(extra=1)
        seen.append(dict(router.context))
        return Response(200, TEXT, "tagged")

    @router.get("/plain")
    def plain() -> Response:
        seen.append(dict(router.context))
        return Response(200, TEXT, "plain")

    @router.get("/fails", middlewares=[_remember])
    def fails() -> Response:
        raise RuntimeError("nothing handles this")

    app = Resolver()
    app.include_router(router)
    app.resolve(_event("/tagged", request_id="first"), None)
    app.resolve(_event("/plain"), None)
    with pytest.raises(RuntimeError):
        app.resolve(_event("/fails"), None)
    app.resolve(_event("/plain"), None)
    assert seen == [{"seen_by_middleware": "first", "extra": 1}, {}, {}]


def test_no_request_state_outside_a_request() -> None:
    router = Router()
    with pytest.raises(LookupError):
        router.current_event  # noqa: B018
    with pytest.raises(LookupError):
        router.context  # noqa: B018


def test_headers_are_looked_up_in_any_case() -> None:
    headers = Headers({"Content-Type": "application/json", "x-market-client-id": "abc", "ETAG": '"1"'})
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "application/json"
    assert headers.get("X-Market-Client-Id") == "abc"
    assert headers.get("If-Match") is None
    assert headers.get("If-Match", "*") == "*"
    assert "etag" in headers and "ETag" in headers
    assert "If-Match" not in headers
    assert object() not in headers
    assert list(headers) == ["content-type", "x-market-client-id", "etag"]
    assert len(headers) == 3 and dict(headers)["etag"] == '"1"'
    with pytest.raises(KeyError):
        headers["If-Match"]
    assert not Headers(None) and len(Headers({})) == 0


def test_the_request_reads_headers_in_any_case() -> None:
    request = Request(_event("/x", headers={"X-Mixed-Case": "v"}))
    assert request.headers.get("x-mixed-case") == request.headers["X-MIXED-CASE"] == "v"


@pytest.mark.parametrize(("raw_path", "stage", "path"), [
    ("/api/x", "$default", "/api/x"),
    ("/prod/api/x", "prod", "/api/x"),
    ("/prod", "prod", "/"),
    ("/prod/", "prod", "/"),
    ("/api/x", "prod", "/api/x"),  # a custom domain: the stage is not in the path
    ("/", "$default", "/"),
])
def test_the_path_has_no_stage_prefix(raw_path: str, stage: str, path: str) -> None:
    event = _event(raw_path, stage=stage)
    assert Request(event).path == path


def test_the_path_of_an_event_without_a_stage_or_a_raw_path() -> None:
    event = _event("/api/x")
    del event["requestContext"]["stage"]
    assert Request(event).path == "/api/x"
    del event["rawPath"]
    assert Request(event).path == "/"


def test_the_request_is_the_event_as_a_read_only_mapping() -> None:
    event = _event("/x", method="post")
    request = Request(event)
    assert dict(request) == event and request["rawPath"] == "/x"
    assert request.http_method == "POST" and request.request_id == "req-1"


class _Unhandled(Exception):
    pass


def test_an_exception_without_a_handler_propagates() -> None:
    router = Router()

    @router.get("/boom")
    def boom() -> Response:
        raise _Unhandled("nobody answers this")

    @router.exception_handler(ValueError)  # a handler for an unrelated class does not catch it
    def value_error(error: ValueError) -> Response:
        return Response(400, TEXT, "value")

    app = Resolver()
    app.include_router(router)
    with pytest.raises(_Unhandled, match="nobody answers this"):
        app.resolve(_event("/boom"), None)


def test_an_exception_from_a_middleware_without_a_handler_propagates() -> None:
    def refuse(app: Router, next_middleware: NextMiddleware) -> Response:
        raise _Unhandled("refused")

    router = Router()

    @router.get("/guarded", middlewares=[refuse])
    def guarded() -> Response:
        return Response(200, TEXT, "never")

    app = Resolver()
    app.include_router(router)
    with pytest.raises(_Unhandled, match="refused"):
        app.resolve(_event("/guarded"), None)
