"""``marketplace -v serve``'s front door on malformed HTTP, browser CORS for assets, bursts of connections,
and an access log with no secret in it (``ovsx`` sends its token in the query string)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from marketplace.platform import resources as r
from tests.e2e.conftest import MARKETPLACE, ROOT, free_port, http, wait_until

pytestmark = pytest.mark.slow
TIMEOUT = 10.0


@dataclass
class Verbose:
    base_url: str
    port: int
    moto_endpoint: str
    log: Path


@pytest.fixture(scope="module")
def verbose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verbose]:
    port, moto_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("serve-v") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MARKETPLACE_STATE_FILE"] = str(log.parent / "local-runtime.json")
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(MARKETPLACE), "-v", "serve", "--port", str(port), "--moto-port", str(moto_port)],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return http("GET", f"{base}/healthz", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(healthy, timeout=60)
        yield Verbose(base, port, f"http://127.0.0.1:{moto_port}", log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _raw(served: Verbose, data: bytes) -> tuple[int, dict[str, str], bytes]:
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


def test_malformed_http_is_answered_in_json(verbose: Verbose):
    post = "POST /api/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    _json_error(_raw(verbose, (post + "Content-Length: abc\r\n\r\n{}").encode()), 400)
    _json_error(_raw(verbose, (post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode()), 400)
    _json_error(_raw(verbose, (post + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n").encode()), 400)
    _json_error(_raw(verbose, b"TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 403)
    _json_error(_raw(verbose, b"GET / HTTP/1.1 junk\r\nHost: 127.0.0.1\r\n\r\n"), 400)
    status, _, body = _raw(verbose, b"GET /no/such/route HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}


def test_assets_answer_browser_clients(verbose: Verbose):
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


def test_a_burst_of_50_connections_is_answered(verbose: Verbose):
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


def test_the_verbose_log_holds_no_secret(verbose: Verbose):
    secret, bearer = "ovsx-SECRET-4f1d", "bearer-SECRET-9a2c"
    http("POST", f"{verbose.base_url}/api/-/publish?token={secret}", b"PK",
         {"Content-Type": "application/octet-stream", "Authorization": f"Bearer {bearer}"})
    http("GET", f"{verbose.base_url}/api/-/query?extensionName=x&Token={secret}&X-Amz-Signature={secret}",
         headers={"Authorization": f"Bearer {bearer}"})
    _raw(verbose, f"GET /api/x?token={secret} HTTP/1.1 junk\r\nAuthorization: Bearer {bearer}\r\n\r\n".encode())

    def logged() -> str:
        text = verbose.log.read_text()
        return text if text.count("token=***") + text.count("Token=***") >= 3 else ""

    text = wait_until(logged, timeout=10)
    assert "X-Amz-Signature=***" in text and "extensionName=x" in text
    assert secret not in text and bearer not in text
