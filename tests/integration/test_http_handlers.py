"""Every API function answers with JSON errors and CORS headers, never a bare 500."""

from __future__ import annotations

import importlib
import json

import pytest

from marketplace.platform.functions import FUNCTIONS
from tests.integration.events import context, http_event

HTTP_FUNCTIONS = [fn for fn in FUNCTIONS if fn.routes]
API_FUNCTIONS = [fn for fn in HTTP_FUNCTIONS if fn.name != "web"]  # the website answers people with pages


@pytest.mark.parametrize("fn", API_FUNCTIONS, ids=lambda fn: fn.name)
def test_unknown_paths_get_a_json_404(deployment, fn):
    handler = importlib.import_module(fn.module)
    route = fn.routes[0]
    path = route.path.replace("{namespace}", "n").replace("{extension}", "e")
    # a path none of the function's routes serves (API Gateway itself would not send it, the resolver still answers)
    path = path.replace("{proxy+}", "no/such/thing") if "{proxy+}" in path else f"{path}/no/such/thing"
    method = "GET" if route.method == "ANY" else route.method
    result = handler.lambda_handler(http_event(method, path, route.key, {"origin": "http://127.0.0.1:8090"}),
                                    context(fn.name))
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["headers"]["Access-Control-Allow-Origin"] == "*"
    assert json.loads(result["body"]) == {"error": "not_found", "message": f"No route for {method} {path}"}


def test_the_websites_unknown_paths_get_an_html_404(deployment):
    from functions.web import handler

    result = handler.lambda_handler(http_event("GET", "/publishers/a/b/c", "ANY /publishers/{proxy+}"),
                                    context("web"))
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in result["headers"]["Content-Security-Policy"]
    assert "No route for GET /publishers/a/b/c" in result["body"]


@pytest.mark.parametrize("fn", HTTP_FUNCTIONS, ids=lambda fn: fn.name)
def test_cors_preflight(deployment, fn):
    handler = importlib.import_module(fn.module)
    route = fn.routes[0]
    path = route.path.replace("{proxy+}", "x").replace("{namespace}", "n").replace("{extension}", "e")
    event = http_event("OPTIONS", path, route.key, {
        "origin": "http://127.0.0.1:8090", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-market-client-id"})
    result = handler.lambda_handler(event, context(fn.name))
    assert result["statusCode"] == 204
    allowed = result["headers"]["Access-Control-Allow-Headers"].lower().split(",")
    assert {"content-type", "x-market-client-id", "authorization", "if-match"} <= set(allowed)
    assert "etag" in result["headers"]["Access-Control-Expose-Headers"].lower()


def test_unexpected_errors_become_a_json_500_without_details(deployment):
    from marketplace.platform.http import http_app
    from marketplace.platform.router import Response, Router

    router = Router()

    @router.get("/boom")
    def boom() -> Response:
        raise RuntimeError("secret detail")

    app = http_app("test", router)
    result = app.resolve(http_event("GET", "/boom", "GET /boom"), context("gallery"))
    assert result["statusCode"] == 500
    body = json.loads(result["body"])
    assert body["error"] == "internal_error" and "secret" not in result["body"] and "req-1" in body["message"]


def test_domain_errors_keep_their_status_and_headers(deployment):
    from marketplace.platform.errors import TooManyRequests
    from marketplace.platform.http import http_app
    from marketplace.platform.router import Response, Router

    router = Router()

    @router.get("/slow-down")
    def slow() -> Response:
        raise TooManyRequests("too many requests from this client", retry_after_seconds=7)

    result = http_app("test", router).resolve(http_event("GET", "/slow-down", "GET /slow-down"), context("gallery"))
    assert result["statusCode"] == 429 and result["headers"]["Retry-After"] == "7"
    assert json.loads(result["body"])["error"] == "too_many_requests"


@pytest.mark.parametrize("fn", HTTP_FUNCTIONS, ids=lambda fn: fn.name)
def test_with_an_origin_secret_only_requests_through_the_front_door_are_answered(deployment, monkeypatch, fn):
    """On AWS the execute-api URL stays reachable: a caller who skips CloudFront lacks its secret header."""
    handler = importlib.import_module(fn.module)
    route = fn.routes[0]
    path = route.path.replace("{proxy+}", "no/such/thing").replace("{namespace}", "n").replace("{extension}", "e")
    method = "GET" if route.method == "ANY" else route.method
    monkeypatch.setenv("MARKETPLACE_ORIGIN_SECRET", "the-distribution-secret")
    for headers in ({}, {"x-origin-verify": "a-guess"}, {"x-origin-verify": ""}):
        result = handler.lambda_handler(http_event(method, path, route.key, headers), context(fn.name))
        assert result["statusCode"] == 403, headers
        assert json.loads(result["body"])["error"] == "origin_not_verified"
        assert result["headers"]["X-Operation-Id"]
    verified = {"x-origin-verify": "the-distribution-secret"}
    through = handler.lambda_handler(http_event(method, path, route.key, verified), context(fn.name))
    # the request reached the function's routes (the website's first route is its home page)
    assert through["statusCode"] in ((200,) if fn.name == "web" else (404, 405))
