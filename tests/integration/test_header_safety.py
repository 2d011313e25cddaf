"""No request can make a function write a header of its choosing: identifiers that end up in a ``Location`` are
validated (a 400 JSON error otherwise) and percent-encoded, and the shared resolver wrapper makes every header of
every answer a safe field value (RFC 9110: no CR, LF or other control characters, US-ASCII only)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.events import context, http_event

SERVICE = "/_apis/public/gallery"
ROUTE = "ANY /_apis/public/gallery/{proxy+}"
HOST = "mp.example.test"
INJECTION = "%0d%0aSet-Cookie:%20pwn=1"


def _gallery(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    from functions.gallery import handler

    event = http_event("GET", SERVICE + path, ROUTE, {"host": HOST})
    if query is not None:
        event["queryStringParameters"] = query  # API Gateway hands the handler decoded query values
        event["rawQueryString"] = "&".join(f"{k}=x" for k in query)
    return handler.lambda_handler(event, context("gallery"))


def assert_safe_headers(answer: dict[str, Any]) -> None:
    """Nothing a client could read as an extra header or cookie, and every value encodable as US-ASCII."""
    assert not answer.get("cookies"), answer
    assert not answer.get("multiValueHeaders"), answer
    headers = answer.get("headers") or {}
    assert "set-cookie" not in {name.lower() for name in headers}, headers
    for name, value in headers.items():
        assert isinstance(value, str), (name, value)
        assert all(" " <= c <= "~" for c in value), (name, value)  # printable ASCII: no CR, LF, NUL, DEL, Latin-1
        assert all(" " <= c <= "~" for c in name), name


def _json_error(answer: dict[str, Any], status: int) -> dict[str, Any]:
    assert answer["statusCode"] == status, answer
    assert answer["headers"]["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(answer["body"])
    assert body["error"] == "bad_request" and "Set-Cookie" not in answer["headers"]
    return body


def test_a_crlf_in_the_publisher_path_is_refused_not_a_header(deployment):
    answer = _gallery(f"/publishers/a{INJECTION}")
    assert_safe_headers(answer)
    assert "publisher" in _json_error(answer, 400)["message"]


def test_a_crlf_in_item_name_is_refused_not_a_header(deployment):
    answer = _gallery("/items", {"itemName": "a.b\r\nSet-Cookie: pwn=1"})
    assert_safe_headers(answer)
    assert "itemName must be publisher.name" in _json_error(answer, 400)["message"]


@pytest.mark.parametrize("segment", ["%E2%80%AE", "%F0%9F%98%80", "%ff%fe", "a%E2%80%AEb", "%00", "a%7f", "%c3%a9"])
def test_non_ascii_publisher_paths_get_an_answer(deployment, segment):
    answer = _gallery(f"/publishers/{segment}")
    assert_safe_headers(answer)
    _json_error(answer, 400)


@pytest.mark.parametrize("name", ["a.b\u202e", "a.\U0001f600", "\xff\xfe.x", "\ufffd.\ufffd", "a.b\x00", "a.b c",
                                  "a.b/../c", "a.b.c", ".b", "a.", "a.b\ud800"])
def test_item_names_outside_the_id_grammar_are_400(deployment, name):
    answer = _gallery("/items", {"itemName": name})
    assert_safe_headers(answer)
    _json_error(answer, 400)


def test_valid_identifiers_still_redirect(deployment):
    answer = _gallery("/publishers/acme-tools")
    assert answer["statusCode"] == 301 and answer["headers"]["Location"] == f"https://{HOST}/publishers/acme-tools"
    answer = _gallery("/items", {"itemName": "acme.linter"})
    assert answer["statusCode"] == 301
    assert answer["headers"]["Location"] == f"https://{HOST}/items?itemName=acme.linter"
    assert_safe_headers(answer)


def test_the_resolver_wrapper_makes_every_header_safe(deployment):
    from marketplace.platform.http import http_function
    from marketplace.platform.router import Response, Router

    router = Router()

    @router.get("/echo")
    def echo() -> Response:
        return Response(status_code=200, content_type="text/plain", body="", headers={
            "X-Echo": "a\r\nSet-Cookie: pwn=1", "X-Unicode": "caf\u00e9 \u202e \U0001f600 \ud800", "X-Tab": "a\tb\x7f",
            "Bad\r\nName": "x", "X-List": ["one\r\n", "two"]})

    _, handler = http_function("test", router)
    answer = handler(http_event("GET", "/echo", "GET /echo"), context("gallery"))
    assert answer["statusCode"] == 200
    assert_safe_headers(answer)
    headers = answer["headers"]
    assert headers["X-Echo"] == "a%0D%0ASet-Cookie: pwn=1"
    assert headers["X-Unicode"] == "caf%C3%A9 %E2%80%AE %F0%9F%98%80 %ED%A0%80"
    assert headers["X-Tab"] == "a%09b%7F"
    assert headers["X-List"] == "one%0D%0A, two"
    assert not any("\r" in name or "\n" in name for name in headers)
    assert headers["X-Operation-Id"] == "req-1"


def test_redirect_percent_encodes_what_a_location_may_not_hold(deployment):
    from marketplace.platform.http import redirect

    location = redirect("https://h.test/assets/a b/caf\u00e9\r\n/x%20y?q=1&r=[2]#f", {"Cache-Control": "no-store"})
    assert location.headers["Location"] == "https://h.test/assets/a%20b/caf%C3%A9%0D%0A/x%20y?q=1&r=[2]#f"
    assert location.status_code == 302 and location.headers["Cache-Control"] == "no-store"
