"""X-Ray subsegments without the X-Ray SDK (``marketplace.platform.tracing``), sent to a fake daemon: a UDP
socket on loopback, named by ``AWS_XRAY_DAEMON_ADDRESS`` as Lambda names the real one."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketplace.platform import tracing

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
SEGMENT_ID = "53995c3f42cd8ad8"
HEADER = f"Root={TRACE_ID};Parent={SEGMENT_ID};Sampled=1;Lineage=a87bd80c:1|68fd508a:5"
SERVICE = "unit"


class Daemon:
    """What a daemon on loopback received, one document per datagram."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def documents(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(70_000)
            except TimeoutError:
                return received
            header, _, body = data.partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            received.append(json.loads(body))


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Daemon]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", HEADER)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    for name in ("POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE", "AWS_LAMBDA_INITIALIZATION_TYPE",
                 "POWERTOOLS_TRACER_CAPTURE_ERROR", "POWERTOOLS_TRACER_CAPTURE_RESPONSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_cold_start", True)
    try:
        yield Daemon(sock)
    finally:
        sock.close()


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(f"rejected: {reason}")
        self.reason = reason


def _one() -> int:
    return 1


def _handler(tracer: tracing.Tracer) -> Any:
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        if event.get("raise"):
            raise Rejected(event["raise"])
        return {"statusCode": 200}

    return handler


def test_a_handler_gets_a_subsegment_under_the_invocations_segment(daemon: Daemon):
    handler = _handler(tracing.Tracer(SERVICE))
    assert handler({}, None) == {"statusCode": 200}
    [doc] = daemon.documents()
    assert set(doc) == {"id", "name", "start_time", "end_time", "parent_id", "trace_id", "in_progress", "type",
                        "namespace", "annotations"}
    assert doc["name"] == "## handler"
    assert doc["type"] == "subsegment"
    assert doc["namespace"] == "local"
    assert doc["trace_id"] == TRACE_ID
    assert doc["parent_id"] == SEGMENT_ID
    assert re.fullmatch(r"[0-9a-f]{16}", doc["id"])
    assert doc["in_progress"] is False
    assert 0 < doc["start_time"] <= doc["end_time"]
    assert doc["annotations"] == {"ColdStart": True, "Service": SERVICE}


def test_cold_start_is_true_for_the_first_invocation_only(daemon: Daemon, monkeypatch: pytest.MonkeyPatch):
    handler = _handler(tracing.Tracer(SERVICE))
    handler({}, None)
    handler({}, None)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-000000000000000000000002;Parent=0000000000000002;Sampled=1")
    handler({}, None)
    docs = daemon.documents()
    assert [d["annotations"]["ColdStart"] for d in docs] == [True, False, False]
    assert docs[2]["trace_id"] == "1-5759e988-000000000000000000000002"
    assert docs[2]["parent_id"] == "0000000000000002"


def test_an_unsampled_first_invocation_still_uses_up_the_cold_start(daemon: Daemon, monkeypatch: pytest.MonkeyPatch):
    handler = _handler(tracing.Tracer(SERVICE))
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE_ID};Parent={SEGMENT_ID};Sampled=0")
    handler({}, None)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", HEADER)
    handler({}, None)
    [doc] = daemon.documents()
    assert doc["annotations"]["ColdStart"] is False


def test_provisioned_concurrency_is_never_a_cold_start(daemon: Daemon, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    _handler(tracing.Tracer(SERVICE))({}, None)
    [doc] = daemon.documents()
    assert doc["annotations"]["ColdStart"] is False


def test_an_exception_is_the_cause_and_metadata_and_is_raised_again(daemon: Daemon):
    handler = _handler(tracing.Tracer(SERVICE))
    with pytest.raises(Rejected, match="rejected: too big"):
        handler({"raise": "too big"}, None)
    [doc] = daemon.documents()
    assert doc["fault"] is True
    assert "error" not in doc
    assert doc["cause"]["working_directory"] == str(Path.cwd())
    [exception] = doc["cause"]["exceptions"]
    assert re.fullmatch(r"[0-9a-f]{16}", exception["id"])
    assert exception["message"] == "rejected: too big"
    assert exception["type"] == "Rejected"
    assert exception["remote"] is False
    assert [(f["path"], f["label"]) for f in exception["stack"]] == [("tracing.py", "traced"),
                                                                     ("test_tracing.py", "handler")]
    assert all(isinstance(f["line"], int) for f in exception["stack"])
    # the exception's public attributes, as Powertools records an error
    assert doc["metadata"] == {SERVICE: {"handler error": {"reason": "too big"}}}
    assert doc["annotations"] == {"ColdStart": True, "Service": SERVICE}


def test_capture_error_false_keeps_the_cause_but_no_metadata(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)

    @tracer.capture_lambda_handler(capture_error=False)
    def handler(event: dict[str, Any], context: object) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        handler({}, None)
    [doc] = daemon.documents()
    assert "metadata" not in doc
    assert doc["cause"]["exceptions"][0]["type"] == "ValueError"


def test_a_response_is_metadata_only_when_asked_for(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)

    def answer(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"n": 1}

    tracer.capture_lambda_handler(answer, capture_response=False)({}, None)
    tracer.capture_lambda_handler(answer)({}, None)
    first, second = daemon.documents()
    assert "metadata" not in first
    assert second["metadata"] == {SERVICE: {"answer response": {"n": 1}}}


def test_a_traced_function_nests_under_the_handler(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)

    @tracer.capture_method(capture_response=False)
    def settle(key: str) -> str:
        if key == "bad":
            raise Rejected("bad key")
        return key.upper()

    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"settled": [settle(k) for k in event["keys"]]}

    assert handler({"keys": ["a"]}, None) == {"settled": ["A"]}
    inner, outer = daemon.documents()
    assert inner["name"] == "## tests.unit.test_tracing.test_a_traced_function_nests_under_the_handler.locals.settle"
    assert inner["parent_id"] == outer["id"]
    assert inner["trace_id"] == outer["trace_id"] == TRACE_ID
    assert outer["parent_id"] == SEGMENT_ID
    assert "annotations" not in inner
    assert outer["start_time"] <= inner["start_time"] <= inner["end_time"] <= outer["end_time"]

    # an exception is described where it happened; the handler's cause refers to it by id
    with pytest.raises(Rejected):
        handler({"keys": ["bad"]}, None)
    inner, outer = daemon.documents()
    [exception] = inner["cause"]["exceptions"]
    assert exception["type"] == "Rejected"
    assert inner["fault"] is True
    assert inner["metadata"] == {SERVICE: {
        "tests.unit.test_tracing.test_a_traced_function_nests_under_the_handler.locals.settle error":
            {"reason": "bad key"}}}
    assert outer["cause"] == exception["id"]
    assert outer["fault"] is True
    assert outer["metadata"] == {SERVICE: {"handler error": {"reason": "bad key"}}}


def test_a_traced_function_outside_a_handler_hangs_under_the_segment(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)
    traced = tracer.capture_method(_one)
    assert traced() == 1
    [doc] = daemon.documents()
    assert doc["parent_id"] == SEGMENT_ID
    assert "annotations" not in doc


def test_generators_and_coroutines_are_refused(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)

    def numbers() -> Iterator[int]:
        yield 1

    async def later() -> None:
        return None

    with pytest.raises(TypeError):
        tracer.capture_method(numbers)
    with pytest.raises(TypeError):
        tracer.capture_method(later)


@pytest.mark.parametrize("header", [
    f"Root={TRACE_ID};Parent={SEGMENT_ID};Sampled=0",
    f"Root={TRACE_ID};Parent={SEGMENT_ID};Sampled=?",
    f"Root={TRACE_ID};Sampled=1",
    f"Parent={SEGMENT_ID};Sampled=1",
    None,
])
def test_nothing_is_sent_unless_the_invocation_is_sampled(daemon: Daemon, monkeypatch: pytest.MonkeyPatch,
                                                         header: str | None):
    if header is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID")
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    tracer = tracing.Tracer(SERVICE)
    traced = tracer.capture_method(_one)
    assert _handler(tracer)({}, None) == {"statusCode": 200}
    assert traced() == 1
    with pytest.raises(Rejected):
        _handler(tracer)({"raise": "x"}, None)
    assert daemon.documents() == []
    assert tracing.current() is None


@pytest.mark.parametrize(("name", "value"), [
    ("POWERTOOLS_TRACE_DISABLED", "true"),
    ("POWERTOOLS_TRACE_DISABLED", "1"),
    ("LAMBDA_TASK_ROOT", ""),
    ("AWS_SAM_LOCAL", "true"),
])
def test_tracing_off_sends_nothing_and_leaves_functions_alone(daemon: Daemon, monkeypatch: pytest.MonkeyPatch,
                                                              name: str, value: str):
    monkeypatch.setenv(name, value)
    assert not tracing.enabled()
    tracer = tracing.Tracer(SERVICE)

    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {}

    def method() -> None:
        return None

    assert tracer.capture_lambda_handler(handler, capture_response=False) is handler
    assert tracer.capture_method(capture_response=False)(method) is method
    handler({}, None)
    assert daemon.documents() == []


def test_a_send_that_fails_never_reaches_the_handler(daemon: Daemon, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture):
    class Broken:
        def sendto(self, data: bytes, address: object) -> int:
            raise OSError("network is down")

    monkeypatch.setattr(tracing, "_udp_socket", Broken)
    handler = _handler(tracing.Tracer(SERVICE))
    with caplog.at_level(logging.DEBUG, logger=tracing.__name__):
        assert handler({}, None) == {"statusCode": 200}
        with pytest.raises(Rejected):  # the handler's own exception, not the sender's
            handler({"raise": "x"}, None)
    assert [r.levelno for r in caplog.records if "not sent" in r.getMessage()] == [logging.DEBUG, logging.DEBUG]


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:notaport", "tcp:127.0.0.1:2000", ""])
def test_an_unusable_daemon_address_is_not_an_error(daemon: Daemon, monkeypatch: pytest.MonkeyPatch, address: str):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", address)
    assert _handler(tracing.Tracer(SERVICE))({}, None) == {"statusCode": 200}


def test_the_daemon_address_takes_both_forms(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000")
    assert tracing._daemon() == ("169.254.79.129", 2000)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "tcp:127.0.0.1:2000 udp:127.0.0.2:2001")
    assert tracing._daemon() == ("127.0.0.2", 2001)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "udp:127.0.0.3:2002 tcp:127.0.0.1:2000")
    assert tracing._daemon() == ("127.0.0.3", 2002)
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS")
    assert tracing._daemon() == ("127.0.0.1", 2000)


def test_a_document_too_big_for_a_datagram_is_cut_down_never_sent_whole(daemon: Daemon):
    handler = _handler(tracing.Tracer(SERVICE))
    with pytest.raises(Rejected):
        handler({"raise": "x" * 100_000}, None)  # the message is in the cause and the metadata
    assert daemon.documents() == []  # the cause alone is still too big: dropped, not truncated JSON

    huge = {"id": "0" * 16, "metadata": {"s": {"k": "x" * 70_000}},
            "cause": {"exceptions": [{"id": "1" * 16, "stack": [{"path": "p" * 100, "line": 1, "label": "f"}] * 1000}]}}
    data = tracing.datagram(huge)
    assert data is not None
    assert len(data) <= tracing.MAX_DATAGRAM < 64 * 1024
    assert "metadata" not in json.loads(data.partition(b"\n")[2])
    assert "stack" not in json.loads(data.partition(b"\n")[2])["cause"]["exceptions"][0]
    assert tracing.datagram({"name": "x" * 70_000}) is None


def test_a_big_error_loses_its_metadata_but_is_still_sent(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: object) -> None:
        error = ValueError("short")
        error.payload = "x" * 70_000  # type: ignore[attr-defined]
        raise error

    with pytest.raises(ValueError, match="short"):
        handler({}, None)
    [doc] = daemon.documents()
    assert "metadata" not in doc
    assert doc["cause"]["exceptions"][0]["message"] == "short"


def test_each_thread_has_its_own_current_subsegment(daemon: Daemon):
    tracer = tracing.Tracer(SERVICE)
    both_open = threading.Barrier(2, timeout=5)
    seen_in_child_thread: list[tracing.Subsegment | None] = []

    @tracer.capture_method(capture_response=False)
    def step(name: str) -> None:
        both_open.wait()  # both threads' handler and step subsegments are open at once

    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event: dict[str, Any], context: object) -> None:
        step(event["name"])
        if event["name"] == "a":
            child = threading.Thread(target=lambda: seen_in_child_thread.append(tracing.current()))
            child.start()
            child.join()

    threads = [threading.Thread(target=handler, args=({"name": n}, None)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    docs = daemon.documents()
    handlers = {d["id"]: d for d in docs if d["name"] == "## handler"}
    steps = [d for d in docs if d["name"].endswith(".step")]
    assert len(handlers) == 2 and len(steps) == 2
    assert {s["parent_id"] for s in steps} == set(handlers)  # each step under its own thread's handler
    assert {h["parent_id"] for h in handlers.values()} == {SEGMENT_ID}
    assert sorted(h["annotations"]["ColdStart"] for h in handlers.values()) == [False, True]
    assert seen_in_child_thread == [None]  # a thread the handler starts begins under the segment, as with the SDK
    assert tracing.current() is None


def test_the_gallery_loads_no_xray_sdk_and_no_wrapt_with_tracing_on(tmp_path: Path):
    """In an environment shaped like Lambda's, as ``bench/cold_start.py`` builds it, with tracing on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "unit",
        "AWS_SECRET_ACCESS_KEY": "unit",
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "gallery",
        "POWERTOOLS_SERVICE_NAME": "gallery",
    })
    probe = (
        "import json, sys\n"
        "import functions.gallery.handler\n"
        "from marketplace.platform import aws, tracing\n"
        "aws.client('dynamodb')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('aws_xray_sdk', 'wrapt'))\n"
        "print(json.dumps({'enabled': tracing.enabled(), 'new_sessions': tracing._new_sessions, 'loaded': loaded}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"enabled": True, "new_sessions": True, "loaded": []}
