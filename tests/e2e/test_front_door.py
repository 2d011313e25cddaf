"""``marketplace -v serve``'s front door on malformed HTTP, browser CORS for assets, bursts of connections,
and an access log with no secret in it (``ovsx`` sends its token in the query string)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from marketplace.platform import resources as r
from tests.e2e.conftest import Served, http, serving, wait_until

pytestmark = pytest.mark.slow
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def verbose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``marketplace -v serve``: the access log is on."""
    with serving(tmp_path_factory.mktemp("serve-v"), global_args=("-v",)) as running:
        yield running


def verbose_log(served: Served) -> str:
    assert served.log is not None
    return served.log.read_text()


def _raw(served: Served, data: bytes) -> tuple[int, dict[str, str], bytes]:
    import http.client

    with socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def _json_error(answer: tuple[int, dict[str, str], bytes], status: int) -> None:
    assert answer[0] == status, answer
    assert answer[1]["content-type"] == "application/json"
    assert set(json.loads(answer[2])) == {"message"}


def test_malformed_http_is_answered_in_json(verbose: Served):
    post = "POST /api/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    _json_error(_raw(verbose, (post + "Content-Length: abc\r\n\r\n{}").encode()), 400)
    _json_error(_raw(verbose, (post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode()), 400)
    _json_error(_raw(verbose, (post + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n").encode()), 400)
    _json_error(_raw(verbose, b"TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 403)
    _json_error(_raw(verbose, b"GET / HTTP/1.1 junk\r\nHost: 127.0.0.1\r\n\r\n"), 400)
    status, _, body = _raw(verbose, b"GET /no/such/route HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}


def test_assets_answer_browser_clients(verbose: Served):
    s3 = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                               region_name="us-east-1").client("s3", endpoint_url=verbose.moto_endpoint)
    s3.put_object(Bucket=f"{r.PRODUCT}-local-{r.PACKAGES_BUCKET.id}", Key="assets/cors/ext/1.0.0/icon.png",
                  Body=b"png", ContentType="image/png")
    url = f"{verbose.base_url}/assets/cors/ext/1.0.0/icon.png"
    status, headers, _ = http("OPTIONS", url, headers={"Origin": "https://workbench.example",
                                                       "Access-Control-Request-Method": "GET"})
    assert 200 <= status < 300
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    status, headers, body = http("GET", url, headers={"Origin": "https://workbench.example"})
    assert (status, body, headers["access-control-allow-origin"]) == (200, b"png", "*")
    status, headers, body = http("GET", f"{verbose.base_url}/assets/cors/ext/1.0.0/missing.png")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}


def test_a_burst_of_50_connections_is_answered(verbose: Served):
    results: list[Any] = [None] * 50

    def one(index: int) -> None:
        try:
            results[index] = http("GET", f"{verbose.base_url}/healthz", timeout=TIMEOUT)[0]
        except OSError as error:
            results[index] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 2)
    assert results == [200] * 50


def test_the_verbose_log_holds_no_secret(verbose: Served):
    secret, bearer = "ovsx-SECRET-4f1d", "bearer-SECRET-9a2c"
    http("POST", f"{verbose.base_url}/api/-/publish?token={secret}", b"PK",
         {"Content-Type": "application/octet-stream", "Authorization": f"Bearer {bearer}"})
    http("GET", f"{verbose.base_url}/api/-/query?extensionName=x&Token={secret}&X-Amz-Signature={secret}",
         headers={"Authorization": f"Bearer {bearer}"})
    _raw(verbose, f"GET /api/x?token={secret} HTTP/1.1 junk\r\nAuthorization: Bearer {bearer}\r\n\r\n".encode())

    def logged() -> str:
        text = verbose_log(verbose)
        return text if text.count("token=***") + text.count("Token=***") >= 3 else ""

    text = wait_until(logged, timeout=10)
    assert "X-Amz-Signature=***" in text and "extensionName=x" in text
    assert secret not in text and bearer not in text
