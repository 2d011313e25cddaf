"""Generated requests to every route of ``marketplace serve`` (hypothesis; bounded in count and time): whatever
the method, path, query, headers and body, the answer is never a 5xx, every error is a JSON body with a
message, no answer carries a traceback, and no header value carries a control character."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import vsix_factory
from tests.e2e.conftest import Served, serving

pytestmark = pytest.mark.slow

PUBLISHER, NAME = "fuzzpub", "fuzzed"
EXAMPLES = 400
BUDGET_SECONDS = 240  # the whole fuzz run stops generating after this, whatever is left
SERVICE = "/_apis/public/gallery"
# Every route of every HTTP function, with ``{...}`` for the parts the fuzzer fills in.
ROUTES = [
    f"{SERVICE}/extensionquery", f"{SERVICE}/items", f"{SERVICE}/publishers/{{p}}",
    f"{SERVICE}/vscode/{{p}}/{{n}}/latest", f"{SERVICE}/control.json",
    f"{SERVICE}/publishers/{{p}}/vsextensions/{{n}}/{{v}}/vspackage",
    f"{SERVICE}/assets/{{p}}/{{n}}/{{v}}/{{t}}",
    f"{SERVICE}/assets/{{p}}/{{n}}/{{v}}/Microsoft.VisualStudio.Code.WebResources/{{t}}",
    f"{SERVICE}/resources/{{p}}/{{n}}/{{v}}/{{t}}", f"{SERVICE}/publishers/{{p}}/extensions/{{n}}/{{v}}/stats",
    f"{SERVICE}/itemName/{{p}}/version/{{v}}/statType/{{t}}/vscodewebextension", f"{SERVICE}/{{t}}",
    "/api/{p}", "/api/{p}/{n}", "/api/{p}/{n}/{v}", "/api/{p}/{n}/{t}/{v}", "/api/{p}/{n}/versions",
    "/api/-/search", "/api/-/query", "/api/v2/-/query", "/api/version",
    "/api/{p}/{n}/reviews", "/api/{p}/{n}/review", "/api/{p}/{n}/review/delete",
    "/api/publish/uploads", "/api/publish/uploads/{t}", "/api/publish/extensions/{p}/{n}/unpublish",
    "/api/publish/extensions/{p}/{n}/deprecate", "/api/-/publish", "/api/-/namespace/create", "/api/{p}/verify-pat",
    "/_apis/gallery", "/_apis/gallery/extensions", "/_apis/gallery/publishers/{p}/extensions/{n}",
    "/_apis/securityroles", "/_apis/securityroles/scopes/gallery.publisher/roleassignments/resources/{p}",
    "/api/telemetry",
    "/user", "/user/csrf", "/user/tokens", "/user/token/create", "/user/token/delete/{t}", "/user/namespaces",
    "/user/namespace/{p}/members", "/user/namespace/{p}/role", "/user/namespace/{p}/details",
    "/sync/v1/manifest", "/sync/v1/resource", "/sync/v1/resource/{t}", "/sync/v1/resource/{t}/{v}",
    "/sync/v1/resource/{t}/latest", "/sync/v1/collection", "/sync/v1/collection/{t}",
    "/sync/v1/collection/{t}/resource/{n}", "/sync/v1/collection/{t}/resource/{n}/{v}", "/sync/v1/download/latest",
    "/sync/v1/editSessions", "/{t}", "/assets/{p}/{n}/{t}",
]
METHODS = ["GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_segment_text = st.one_of(
    st.sampled_from([PUBLISHER, NAME, "1.0.0", "latest", "settings", "Microsoft.VisualStudio.Services.Icons.Default",
                     f"{PUBLISHER}.{NAME}", "..", "%2e%2e", "a%0d%0aSet-Cookie:%20pwn=1", "%E2%80%AE", "%F0%9F%98%80",
                     "%ff%fe", "%00", "x" * 300]),
    st.text(min_size=1, max_size=40).map(lambda text: quote(text, safe="")),
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_structured = st.fixed_dictionaries({}, optional={
    "filters": st.lists(st.fixed_dictionaries({}, optional={
        "criteria": st.lists(st.fixed_dictionaries({"filterType": st.integers(-2, 20), "value": _json_values}),
                             max_size=3),
        "pageNumber": _json_values, "pageSize": _json_values, "sortBy": _json_values}), max_size=2),
    "flags": _json_values, "rating": _json_values, "comment": _json_values, "name": _json_values,
    "events": _json_values, "version": _json_values, "size": _json_values, "sha256": _json_values,
    "message": _json_values, "replacement": _json_values, "targetPlatform": _json_values,
})
_bodies = st.one_of(
    st.none(),
    _json_values.map(lambda value: json.dumps(value).encode()),
    _structured.map(lambda value: json.dumps(value).encode()),
    st.integers(1, 60_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(4_400, 6_000).map(lambda digits: b'{"rating": ' + b"9" * digits + b"}"),
    st.binary(max_size=200),
    st.binary(max_size=200).map(gzip.compress),
    st.just(b'{"a": NaN, "b": Infinity}'),
    st.just(b"\xff\xfe{}"),
)
_headers = st.fixed_dictionaries({}, optional={
    "Content-Type": st.sampled_from(["application/json", "text/plain", "application/octet-stream",
                                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                     "application/json; charset=latin-1"]),
    "Content-Encoding": st.sampled_from(["gzip", "br", "deflate", "identity", "x-unknown", "gzip, gzip"]),
    "Authorization": st.sampled_from(["Bearer AUTH", "Bearer garbage", "Basic Og==", "Bearer ", "mkp_x_y"]),
    "If-Match": st.sampled_from(["0", "*", "1-deadbeef", "garbage", ""]),
    "If-None-Match": st.sampled_from(["0", "*", "garbage"]),
    "X-Account-Type": st.sampled_from(["local", "github", "other"]),
    "Range": st.sampled_from(["bytes=0-10", "bytes=-5", "bytes=abc", "bytes=10-0"]),
    "Origin": st.just("https://evil.example"),
    "Accept-Encoding": st.sampled_from(["gzip", "br", "identity", "*"]),
})
_queries = st.one_of(
    st.just(""),
    st.lists(st.tuples(st.sampled_from(["itemName", "query", "size", "offset", "token", "targetPlatform",
                                        "sortBy", "category", "namespaceName", "extensionName", "includeAllVersions"]),
                       _segment_text), max_size=4)
    .map(lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)),
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict[str, str]]]:
    limits = {"TELEMETRY_RATE_LIMIT": "100000", "REVIEWS_RATE_LIMIT": "100000", "SYNC_RATE_LIMIT": "100000"}
    directory = tmp_path_factory.mktemp("fuzz")
    with serving(directory, limits) as served:
        owner = served.cli("publisher", "create", PUBLISHER, "--owner", "fuzz-owner").stdout.strip().splitlines()[-1]
        package = vsix_factory.build_vsix(Path(directory) / "fuzzed.vsix", publisher=PUBLISHER, name=NAME,
                                          version="1.0.0")
        served.cli("publish", str(package), "--registry", served.base_url, "--token", owner, "--quiet")
        user = served.cli("dev-token", "fuzzer").stdout.strip().splitlines()[-1]
        yield served, {"owner": owner, "user": user}


def _send(base_url: str, method: str, target: str, headers: dict[str, str],
          body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def test_no_generated_request_gets_a_server_error(target: tuple[Served, dict[str, str]]) -> None:
    served, tokens = target
    started = time.monotonic()
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(ROUTES), method=st.sampled_from(METHODS), fill=st.data(),
           query=_queries, headers=_headers, body=_bodies,
           who=st.sampled_from(["anonymous", "owner", "user"]))
    def one(route: str, method: str, fill: Any, query: str, headers: dict[str, str], body: bytes | None,
            who: str) -> None:
        if time.monotonic() - started > BUDGET_SECONDS:
            return
        path = re.sub(r"\{[a-z]\}", lambda _: fill.draw(_segment_text), route)
        request_headers = dict(headers)
        if request_headers.get("Authorization") == "Bearer AUTH":
            request_headers["Authorization"] = "Bearer " + (tokens["user"] if who == "user" else tokens["owner"])
        status, answer_headers, answer = _send(served.base_url, method, path + (f"?{query}" if query else ""),
                                               request_headers, body if method not in ("GET", "HEAD") else None)
        seen[status] = seen.get(status, 0) + 1
        if dict((k.lower(), v) for k, v in answer_headers).get("content-encoding") == "gzip" and answer:
            answer = gzip.decompress(answer)  # the routes that compress do so for errors too, as HTTP allows
        where = f"{method} {path[:200]}?{query[:100]} -> {status} {answer[:300]!r}"
        assert status < 500, where
        assert b"Traceback" not in answer and b'File "/' not in answer, where
        for name, value in answer_headers:
            assert not CONTROL.search(name) and not CONTROL.search(value), (where, name, value)
            assert name.lower() != "set-cookie", (where, value)
        if status >= 400 and method != "HEAD":
            content_type = dict((k.lower(), v) for k, v in answer_headers).get("content-type", "")
            assert content_type.startswith("application/json"), where
            error = json.loads(answer)
            message = error.get("message")
            openvsx = path.startswith("/api/") and not path.startswith(("/api/publish/", "/api/telemetry"))
            if message is None and openvsx:
                message = error.get("error")  # Open VSX's own error shape, which ovsx reads: {"error": "..."}
            assert isinstance(message, str) and message, where

    one()
    assert sum(seen.values()) >= 50, seen  # the budget let a meaningful number through
    assert any(200 <= status < 300 for status in seen), seen  # and some reached real work, not only errors
