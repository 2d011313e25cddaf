"""End-to-end fixtures: the local runtime over real HTTP on free ports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKETPLACE = Path(sys.executable).parent / "marketplace"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def wait_until(condition: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass
class Served:
    base_url: str
    moto_endpoint: str
    process: subprocess.Popen[str]
    started_in: float
    env: dict[str, str]
    port: int = 0
    log: Path | None = None

    def cli(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``marketplace`` as an operator runs it, finding this runtime through its state file (``input``: its
        standard input, e.g. a password for ``--password-stdin``)."""
        result = subprocess.run([str(MARKETPLACE), *args], capture_output=True, text=True, env=self.env,
                                cwd=ROOT, timeout=60, input=input)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        ).client(service, endpoint_url=self.moto_endpoint)


@contextlib.contextmanager
def serving(directory: Path, extra_env: dict[str, str] | None = None, *args: str,
            global_args: tuple[str, ...] = (), port: int | None = None) -> Iterator[Served]:
    """``marketplace serve`` in its own process, exactly as the README starts it, with the operator's
    settings in ``extra_env``, more ``serve`` arguments in ``args`` and ``marketplace``'s own options
    (``-v``) in ``global_args``."""
    port, moto_port = port or free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MARKETPLACE_STATE_FILE"] = str(directory / "local-runtime.json")
    env["MARKETPLACE_DATA_DIR"] = str(directory / "data")  # the default data directory, one per served instance
    env.update(extra_env or {})
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(MARKETPLACE), *global_args, "serve", "--port", str(port), "--moto-port", str(moto_port), *args],
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
        yield Served(base, f"http://127.0.0.1:{moto_port}", process, time.monotonic() - started, env, port, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        served_log = log.read_text()
        print(served_log[-4000:])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``marketplace serve`` in its own process, exactly as the README starts it."""
    with serving(tmp_path_factory.mktemp("serve")) as running:
        yield running


def product_json_from(log_text: str) -> dict[str, Any]:
    start = log_text.index("{")
    decoded, _ = json.JSONDecoder().raw_decode(log_text[start:])
    return dict(decoded)
