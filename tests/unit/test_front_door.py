"""The local front door (``marketplace.local.server``) on malformed HTTP, as API Gateway and CloudFront answer
it: every refusal a JSON ``{"message": ...}``, bodies framed strictly (no request smuggling, nothing buffered
past the 10 MiB cap), the client's identity set by the front door itself, no secret in the access log.

The server runs on a loopback port with a minimal runtime; requests go over raw sockets, each with a timeout.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from marketplace.local.apigw import MAX_BODY_BYTES, RouteTable
from marketplace.local.server import serve
from marketplace.platform.functions import FunctionDef, Route

TIMEOUT = 5.0
ECHO = FunctionDef("echo", "answers with the event it got", 128, 3,
                   routes=(Route("ANY", "/echo/{proxy+}"), Route("GET", "/headers/{kind}")))


@dataclass
class FakeInvoker:
    events: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def invoke(self, fn: FunctionDef, event: dict[str, Any]) -> Any:
        self.events.append(event)
        kind = (event.get("pathParameters") or {}).get("kind")
        if kind is not None:
            return {"statusCode": 200, "headers": self.headers.get(kind, {}), "body": "ok"}
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"headers": event["headers"], "body": event.get("body", ""),
                                    "sourceIp": event["requestContext"]["http"]["sourceIp"]})}


@dataclass
class FakeRuntime:
    """What ``make_handler`` reads from ``LocalMarketplace``."""

    host: str = "127.0.0.1"
    port: int = 0
    scheme: str = "http"
    ready: bool = True
    local_issuer: Any = None
    cdn: Any = None
    origin_secret: str | None = None
    routes: RouteTable = field(default_factory=lambda: RouteTable([ECHO]))
    invoker: FakeInvoker = field(default_factory=FakeInvoker)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"status": "ok"}


@dataclass
class Door:
    runtime: FakeRuntime
    server: Any

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.runtime.port)


@pytest.fixture(scope="module")
def served() -> Iterator[Door]:
    runtime = FakeRuntime()
    server, loop = serve(runtime, "127.0.0.1", 0)  # type: ignore[arg-type]
    runtime.port = server.server_address[1]
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield Door(runtime, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def door(served: Door) -> Door:
    """The module's server, with a fresh invoker and no origin secret."""
    served.runtime.invoker = FakeInvoker()
    served.runtime.origin_secret = None
    return served


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _read_answer(sock: socket.socket, method: str = "GET") -> Answer:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def send(door: Door, raw: bytes, *, method: str = "GET") -> Answer:
    """Send raw bytes on a new connection and read one answer (within the timeout)."""
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        return _read_answer(sock, method)


def assert_json_error(answer: Answer, status: int) -> None:
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"message"} and answer.json()["message"]


def post(path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- body framing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "+5", "1_0", "0x10", "5 5", "", "٣"])
def test_a_malformed_content_length_is_a_400_at_once(door: Door, value: str):
    answer = send(door, post("/echo/x", f"Content-Length: {value}", body=b"hello"))
    assert_json_error(answer, 400)
    assert door.runtime.invoker.events == []


def test_content_length_minus_one_does_not_read_until_the_client_hangs_up(door: Door):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(post("/echo/x", "Content-Length: -1", body=b"x" * 1000))  # and the connection stays open
        started = time.monotonic()
        answer = _read_answer(sock)
    assert_json_error(answer, 400)
    assert time.monotonic() - started < TIMEOUT


@pytest.mark.parametrize("chunks", [
    b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
    b"5\r\nhelloXX0\r\n\r\n",  # chunk data not followed by CRLF
    b"-5\r\nhello\r\n0\r\n\r\n",
    b" 5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhel",  # the client hung up within a chunk
])
def test_a_malformed_chunked_body_is_a_400(door: Door, chunks: bytes):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(post("/echo/x", "Transfer-Encoding: chunked", body=chunks))
        sock.shutdown(socket.SHUT_WR)
        answer = _read_answer(sock)
    assert_json_error(answer, 400)
    assert door.runtime.invoker.events == []


def test_chunk_extensions_and_trailers_are_understood_and_the_connection_goes_on(door: Door):
    body = b"5;name=value;flag\r\nhello\r\n6 ; x=\"y\"\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(post("/echo/x", "Transfer-Encoding: chunked", "Content-Type: text/plain", body=body))
        first = _read_answer(sock)
        sock.sendall(b"GET /echo/second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # the same connection
        second = _read_answer(sock)
    assert first.status == 200 and first.json()["body"] == "hello world"
    assert "x-checksum" not in first.json()["headers"]  # trailers are not merged into the headers
    assert second.status == 200


def test_an_absurdly_long_chunk_size_line_is_refused(door: Door):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(post("/echo/x", "Transfer-Encoding: chunked"))
        sock.sendall(b"5;" + b"e" * (256 * 1024) + b"\r\nhello\r\n0\r\n\r\n")
        answer = _read_answer(sock)
    assert_json_error(answer, 400)
    assert door.runtime.invoker.events == []


def test_a_chunked_body_past_the_cap_is_refused_before_its_data_is_sent(door: Door):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(post("/echo/x", "Transfer-Encoding: chunked"))
        sock.sendall(f"{MAX_BODY_BYTES + 1:x}\r\n".encode())  # announces one byte too many; sends none
        answer = _read_answer(sock)
    assert_json_error(answer, 413)
    assert answer.headers.get("connection") == "close"

    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:  # the cap reached chunk by chunk
        sock.sendall(post("/echo/x", "Transfer-Encoding: chunked"))
        piece = b"x" * (1 << 20)
        for _ in range(MAX_BODY_BYTES // len(piece)):
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"1\r\n")
        answer = _read_answer(sock)
    assert_json_error(answer, 413)
    assert door.runtime.invoker.events == []


def test_a_chunked_body_at_the_cap_is_delivered(door: Door):
    body = b"a" * MAX_BODY_BYTES
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with socket.create_connection(door.address, timeout=TIMEOUT * 2) as sock:
        sock.sendall(post("/echo/x", "Transfer-Encoding: chunked", "Content-Type: text/plain", body=chunked))
        answer = _read_answer(sock)
    assert answer.status == 200 and len(answer.json()["body"]) == MAX_BODY_BYTES


@pytest.mark.parametrize("headers", [
    ("Content-Length: 5", "Transfer-Encoding: chunked"),
    ("Transfer-Encoding: chunked", "Content-Length: 5"),
    ("Content-Length: 5", "Content-Length: 6"),
    ("Content-Length: 5, 6",),
    ("Transfer-Encoding: gzip, chunked",),
    ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
    ("Transfer-Encoding: identity",),
    ("Transfer-Encoding : chunked",),  # whitespace before the colon: a header line that is not one
    ("X-Folded: a", " b"),  # obsolete line folding
    ("X-Control: a\x01b",),
])
def test_ambiguous_framing_is_refused_as_request_smuggling(door: Door, headers: tuple[str, ...]):
    answer = send(door, post("/echo/x", *headers, body=b"5\r\nhello\r\n0\r\n\r\n"))
    assert_json_error(answer, 400)
    assert answer.headers.get("connection") == "close"
    assert door.runtime.invoker.events == []


def test_repeated_equal_content_lengths_are_one(door: Door):
    answer = send(door, post("/echo/x", "Content-Length: 5", "Content-Length: 5", "Content-Type: text/plain",
                             body=b"hello"))
    assert answer.status == 200 and answer.json()["body"] == "hello"


def test_keep_alive_requests_follow_each_other(door: Door):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        for index in range(3):
            sock.sendall(post(f"/echo/{index}", "Content-Length: 2", "Content-Type: text/plain", body=b"hi"))
            answer = _read_answer(sock)
            assert answer.status == 200 and answer.json()["body"] == "hi"


def test_a_body_over_the_cap_with_expect_100_continue_is_refused_before_it_is_sent(door: Door):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(post("/echo/x", f"Content-Length: {MAX_BODY_BYTES + 1}", "Expect: 100-continue"))
        answer = _read_answer(sock)
    assert_json_error(answer, 413)


# --- the listen backlog --------------------------------------------------------------------------------------


def test_bursts_of_50_concurrent_connections_are_all_answered(door: Door):
    """A backlog of 5 drops the SYNs of a burst (the kernel's retry comes a second later) or resets them."""
    assert door.server.request_queue_size >= 128

    def one(results: list[Any], index: int) -> None:
        started = time.monotonic()
        try:
            with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
                connected = time.monotonic() - started
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                results[index] = (connected, _read_answer(sock).status)
        except OSError as error:
            results[index] = error

    for _ in range(3):
        results: list[Any] = [None] * 50
        threads = [threading.Thread(target=one, args=(results, i)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=TIMEOUT * 2)
        assert all(isinstance(r, tuple) and r[1] == 200 for r in results), results
        # a dropped SYN is retransmitted after a second: every handshake completing sooner means none was
        assert max(r[0] for r in results) < 0.9, sorted(r[0] for r in results)[-5:]


# --- methods and malformed requests --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOO", "get", "PROPFIND"])
def test_methods_cloudfront_does_not_forward_are_a_json_403(door: Door, method: str):
    target = "127.0.0.1:443" if method == "CONNECT" else "/echo/x"
    answer = send(door, f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(), method=method)
    assert_json_error(answer, 403)
    assert door.runtime.invoker.events == []


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET\r\n\r\n", 400),
    (b"GET /echo/x\r\n", 400),  # HTTP/0.9: no version, no headers
    (b"POST /echo/x\r\n", 400),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
    (b"GET /echo/\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
])
def test_malformed_requests_get_a_json_answer(door: Door, raw: bytes, status: int):
    with socket.create_connection(door.address, timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        answer = _read_answer(sock)
    assert_json_error(answer, status)
    assert door.runtime.invoker.events == []


def test_no_route_is_api_gateways_404(door: Door):
    answer = send(door, b"DELETE /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 404 and answer.json() == {"message": "Not Found"}


# --- response headers ----------------------------------------------------------------------------------------


def test_header_values_a_handler_returns_are_made_safe_to_write(door: Door):
    door.runtime.invoker.headers["weird"] = {
        "Location": "/assets/caf\u00e9/\u20ac uro?q=\u00fc",
        "X-Title": "\u6f22\u5b57",
        "X-Injected": "a\r\nSet-Cookie: stolen=1",
        "X-Split": "a\nb",
        "Bad Name": "x",
        "X-Fine": "fine",
    }
    answer = send(door, b"GET /headers/weird HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 200 and answer.body == b"ok"  # the connection was not dropped
    assert answer.headers["location"] == "/assets/caf%C3%A9/%E2%82%AC%20uro?q=%C3%BC"
    assert answer.headers["x-title"].encode("latin-1").decode("utf-8") == "\u6f22\u5b57"  # UTF-8 on the wire
    assert "set-cookie" not in answer.headers and "x-injected" not in answer.headers
    assert "x-split" not in answer.headers and "bad name" not in answer.headers
    assert answer.headers["x-fine"] == "fine"


def test_a_handler_status_outside_http_is_api_gateways_500(door: Door):

    def broken(fn: FunctionDef, event: dict[str, Any]) -> Any:
        return {"statusCode": 1000, "body": "?"}

    door.runtime.invoker.invoke = broken  # type: ignore[method-assign]
    answer = send(door, b"GET /echo/x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 500 and answer.json() == {"message": "Internal Server Error"}


# --- trusted client identity ---------------------------------------------------------------------------------


def _seen_headers(door: Door, *headers: str) -> dict[str, str]:
    lines = ["GET /echo/who HTTP/1.1", *headers]
    answer = send(door, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert answer.status == 200, answer.body
    return dict(door.runtime.invoker.events[-1]["headers"])


def test_a_client_cannot_set_the_headers_only_cloudfront_sets(door: Door):
    seen = _seen_headers(
        door, "Host: market.example.org:8443", "CloudFront-Viewer-Address: 1.2.3.4:5", "X-Forwarded-For: 1.2.3.4",
        "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "X-Amz-Cf-Id: forged",
        "CloudFront-Viewer-Country: XX", "CloudFront-Is-Desktop-Viewer: true", "x-origin-verify: forged",
    )
    event = door.runtime.invoker.events[-1]
    host, port = seen["cloudfront-viewer-address"].rsplit(":", 1)
    assert host == "127.0.0.1" and 0 < int(port) < 65536 and port != "5"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-host"] == "market.example.org:8443"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-amz-cf-id"] != "forged"
    assert "cloudfront-viewer-country" not in seen and "cloudfront-is-desktop-viewer" not in seen
    assert "x-origin-verify" not in seen  # no secret configured: nothing to vouch with
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["domainName"] == "market.example.org"


def test_the_origin_secret_is_set_by_the_front_door_alone(door: Door):
    door.runtime.origin_secret = "s3cr3t-value"
    seen = _seen_headers(door, "Host: 127.0.0.1", "X-Origin-Verify: forged")
    assert seen["x-origin-verify"] == "s3cr3t-value"


def test_the_origin_header_name_comes_from_the_environment(door: Door, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MARKETPLACE_ORIGIN_HEADER", "X-Custom-Verify")
    door.runtime.origin_secret = "another"
    seen = _seen_headers(door, "Host: 127.0.0.1", "X-Custom-Verify: forged", "X-Origin-Verify: forged")
    assert seen["x-custom-verify"] == "another" and "x-origin-verify" not in seen


@pytest.mark.parametrize("host", ["evil.example/path", "a b", "x.example:99999", "x.example:80:80", "@evil",
                                  "x.example,y.example", ""])
def test_a_junk_host_is_not_forwarded_as_the_public_host(door: Door, host: str):
    seen = _seen_headers(door, f"Host: {host}")
    assert seen["x-forwarded-host"] == f"127.0.0.1:{door.runtime.port}"


def test_an_ipv6_host_is_a_valid_forwarded_host(door: Door):
    seen = _seen_headers(door, "Host: [::1]:8080")
    assert seen["x-forwarded-host"] == "[::1]:8080"


# --- the access log ------------------------------------------------------------------------------------------


def test_secrets_in_the_query_and_authorization_never_reach_the_log(door: Door, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="marketplace.local.http")
    secrets = ["SECRET-token", "SECRET-access", "SECRET-code", "SECRET-pw", "SECRET-sec", "SECRET-sig",
               "SECRET-amzsig", "SECRET-cred", "SECRET-sts", "SECRET-bearer"]
    query = ("token=SECRET-token&Access_Token=SECRET-access&code=SECRET-code&PASSWORD=SECRET-pw"
             "&secret=SECRET-sec&signature=SECRET-sig&X-Amz-Signature=SECRET-amzsig"
             "&x-amz-credential=SECRET-cred&X-Amz-Security-Token=SECRET-sts&keep=visible")
    auth = "Authorization: Bearer SECRET-bearer"
    send(door, f"GET /echo/x?{query} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
    send(door, f"GET /nowhere?{query} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
    send(door, f"GET /echo/x?{query} HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: abc\r\n\r\n".encode())
    send(door, f"FOO /echo/x?{query} HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n".encode())
    send(door, f"GET /echo/x?{query} HTTP/1.1 junk\r\nHost: x\r\n{auth}\r\n\r\n".encode())
    send(door, f"GET /echo/x?{query}\r\n".encode())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "token=***" in logged and "X-Amz-Signature=***" in logged and "keep=visible" in logged
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == [], logged


# --- over TLS ------------------------------------------------------------------------------------------------


def test_refusals_over_tls_are_json_too(tmp_path):
    from marketplace.local import tls

    files = tls.ensure(tmp_path / "tls")
    runtime = FakeRuntime(scheme="https")
    server, loop = serve(runtime, "127.0.0.1", 0, files.server_context())  # type: ignore[arg-type]
    runtime.port = server.server_address[1]
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    client = files.client_context()
    try:
        for raw, status in [(post("/echo/x", "Content-Length: abc"), 400),
                            (b"GET /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200)]:
            with socket.create_connection(("127.0.0.1", runtime.port), timeout=TIMEOUT) as plain, \
                    client.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
                sock.sendall(raw)
                answer = _read_answer(sock)
            assert answer.status == status
            assert answer.headers["content-type"] == "application/json"
        assert runtime.invoker.events[-1]["headers"]["x-forwarded-proto"] == "https"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
