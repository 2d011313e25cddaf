"""Our X-Ray documents against the X-Ray SDK's: the same handler, run once traced by Powertools' tracer and the
X-Ray SDK and once by ``marketplace.platform.tracing``, against moto and a fake daemon, sends the same documents
(apart from ids, times and request ids) and the same trace headers downstream.

Each run is a fresh interpreter, shaped like Lambda (``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``), as the SDK
patches botocore for good once it is loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pytest
from moto import mock_aws

from marketplace.platform import tracing

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "parity"
TABLE, BUCKET = "parity-table", "parity-bucket"
FIRST = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5"
SECOND = "Root=1-5759e988-0123456789abcdef01234567;Parent=1111111111111111;Sampled=1"
THIRD = "Root=1-5759e988-fedcba9876543210fedcba98;Parent=2222222222222222;Sampled=1"
STORE = "## tests.integration.test_tracing_parity._scenario.locals.store"


# --- The scenario, run in a fresh interpreter by each tracer ------------------------------------------------

def _scenario(mode: str) -> None:
    """Setup calls outside any handler, then three invocations: a success (with a failed call it catches),
    a ClientError the handler lets out, and an exception raised in a traced function. Prints the
    ``X-Amzn-Trace-Id`` header of every request sent."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    sent: list[str | None] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers.get("X-Amzn-Trace-Id")
        sent.append(value.decode() if isinstance(value, bytes) else value)

    with mock_aws():
        session = boto3.session.Session()
        if mode == "sdk":
            from aws_lambda_powertools import Tracer

            tracer: Any = Tracer(service=SERVICE, patch_modules=("botocore",))
        else:
            tracer = tracing.Tracer(SERVICE)
            tracing.instrument(session)
        dynamodb, s3 = session.client("dynamodb"), session.client("s3")
        for client in (dynamodb, s3):
            client.meta.events.register("before-send", record)
        dynamodb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        s3.create_bucket(Bucket=BUCKET)

        @tracer.capture_method(capture_response=False)
        def store(key: str) -> None:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"package")
            if key == "bad":
                raise ValueError("no such package")

        @tracer.capture_lambda_handler(capture_response=False)
        def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
            dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}}, ConsistentRead=True)
            store(event["key"])
            try:
                dynamodb.get_item(TableName="missing", Key={"pk": {"S": "a"}})
            except ClientError:
                if event.get("let_out"):
                    raise
            return {"statusCode": 200}

        for header, event in ((FIRST, {"key": "a"}), (SECOND, {"key": "b", "let_out": True}), (THIRD, {"key": "bad"})):
            os.environ["_X_AMZN_TRACE_ID"] = header
            with contextlib.suppress(ClientError, ValueError):
                handler(event, None)
    print(json.dumps(sent))


# --- Running and comparing ----------------------------------------------------------------------------------

@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", FIRST)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setattr(tracing, "_cold_start", True)
    try:
        yield sock
    finally:
        sock.close()


def _received(sock: socket.socket) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    sock.settimeout(0.3)
    while True:
        try:
            data = sock.recv(70_000)
        except TimeoutError:
            return docs
        header, _, body = data.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        docs.append(json.loads(body))


def _run(mode: str, sock: socket.socket, tmp_path: Path) -> tuple[list[dict[str, Any]], list[str | None]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "parity",
        "AWS_XRAY_DAEMON_ADDRESS": os.environ["AWS_XRAY_DAEMON_ADDRESS"],
        "LAMBDA_TASK_ROOT": os.environ["LAMBDA_TASK_ROOT"],
    })
    code = f"from tests.integration.test_tracing_parity import _scenario; _scenario({mode!r})"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return _received(sock), json.loads(out.stdout.strip().splitlines()[-1])


_VOLATILE_HEADERS = re.compile(r"date|x-amzn?-(requestid|request-id|id-2)", re.IGNORECASE)


def _normalized(docs: list[dict[str, Any]], headers: list[str | None]) -> tuple[list[Any], list[Any]]:
    """Documents and headers with ids, times and request ids replaced by what they refer to: a document by its
    place in the run, an exception by its document, Lambda's segment by its invocation."""
    names = {doc["id"]: f"document {i}" for i, doc in enumerate(docs)}
    for header in (FIRST, SECOND, THIRD):
        names[re.search(r"Parent=(\w+)", header)[1]] = f"segment of {header[:20]}"  # type: ignore[index]
    for doc in docs:
        for exception in doc.get("cause", {}).get("exceptions", []) if isinstance(doc.get("cause"), dict) else []:
            names[exception["id"]] = f"exception of {names[doc['id']]}"

    def plain(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            if {"path", "line", "label"} <= set(value):
                return _frame(value)
            return {k: plain(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v, key) for v in value]
        if key in ("start_time", "end_time"):
            return "<time>"
        if key in ("request_id", "id_2", "RequestId", "HostId") or _VOLATILE_HEADERS.fullmatch(key):
            return "<from the service>"
        if isinstance(value, str) and value in names:
            return names[value]
        return value

    def named(value: str | None) -> str | None:
        return None if value is None else re.sub(r"Parent=(\w+)", lambda m: f"Parent={names.get(m[1], m[1])}", value)

    return plain(docs), [named(h) for h in headers]


def _frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A stack frame; the tracer's own wrapper (Powertools' or ours) and the line in botocore where the
    error was seen (its raise for the SDK, the event just before it for us) differ by nature."""
    if frame["path"] in ("tracer.py", "tracing.py"):
        return {"path": "<tracer>", "label": "<wrapper>"}
    if frame["label"] == "_make_api_call":
        return {"path": frame["path"], "label": frame["label"]}
    return frame


def test_our_documents_and_trace_headers_are_the_x_ray_sdks(daemon: socket.socket, tmp_path: Path):
    sdk_docs, sdk_headers = _run("sdk", daemon, tmp_path)
    our_docs, our_headers = _run("ours", daemon, tmp_path)

    # what the scenario produced, so that the comparison below compares something
    assert [d["name"] for d in sdk_docs] == [
        "dynamodb", "s3",  # setup, under Lambda's segment
        "dynamodb", "s3", STORE, "dynamodb", "## handler",
        "dynamodb", "s3", STORE, "dynamodb", "## handler",
        "dynamodb", "s3", STORE, "## handler",
    ]
    assert len(sdk_headers) == len(sdk_docs) - 6
    for docs in (sdk_docs, our_docs):
        for doc in docs:
            assert re.fullmatch(r"[0-9a-f]{16}", doc["id"])
            assert 0 < doc["start_time"] <= doc["end_time"]

    sdk, sdk_sent = _normalized(sdk_docs, sdk_headers)
    ours, our_sent = _normalized(our_docs, our_headers)
    for i, (theirs, mine) in enumerate(zip(sdk, ours, strict=True)):
        assert mine == theirs, f"document {i}"
    assert our_sent == sdk_sent

    # spot checks of what both agree on
    get_item, put_object, store, missing, handler = ours[2:7]
    assert get_item["aws"] == {"operation": "GetItem", "region": "us-east-1", "request_id": "<from the service>",
                               "consistent_read": True, "table_name": TABLE}
    assert get_item["http"] == {"response": {"status": 200}}
    assert get_item["parent_id"] == "document 6"
    assert put_object["aws"]["bucket_name"] == BUCKET and put_object["aws"]["key"] == "a"
    assert put_object["parent_id"] == "document 4"
    assert store["parent_id"] == "document 6"
    assert missing["error"] is True and missing["fault"] is True
    assert missing["http"] == {"response": {"status": 400}}
    assert missing["cause"]["exceptions"][0]["type"] == "ResourceNotFoundException"
    assert missing["cause"]["exceptions"][0]["remote"] is True
    assert handler["annotations"] == {"ColdStart": True, "Service": SERVICE}
    assert handler["parent_id"] == "segment of Root=1-5759e988-bd86"
    assert "fault" not in handler
    second_handler, third_handler = ours[11], ours[15]
    assert second_handler["annotations"]["ColdStart"] is False
    assert second_handler["cause"] == "exception of document 10"  # the call's ClientError, let out
    assert third_handler["cause"] == "exception of document 14"  # the ValueError, described in store's
    assert our_sent[2] == ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=document 2;Sampled=1;"
                           "Lineage=a87bd80c:1|68fd508a:5")


def test_unsampled_calls_carry_lambdas_own_header(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Not sampled: no subsegment, and the request carries the header botocore copies from Lambda's."""
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "parity")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    unsampled = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", unsampled)
    sent: list[bytes] = []
    monkeypatch.setattr(tracing, "emit", lambda subsegment: pytest.fail(f"sent {subsegment.name}"))
    with mock_aws():
        client = tracing.instrument(boto3.session.Session()).client("s3")
        client.meta.events.register("before-send", lambda request, **_: sent.append(request.headers["X-Amzn-Trace-Id"]))
        client.list_buckets()
    assert sent == [unsampled.encode()]


def _traced_lambda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tracing.Subsegment]:
    """A Lambda-like environment with a sampled trace whose new sessions are not instrumented yet (botocore's
    handler list restored after the test); returns where the subsegments go instead of the daemon."""
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", list(botocore.handlers.BUILTIN_HANDLERS))
    monkeypatch.setattr(tracing, "_new_sessions", False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1",
                        "_X_AMZN_TRACE_ID": FIRST}.items():
        monkeypatch.setenv(name, value)
    sent: list[tracing.Subsegment] = []
    monkeypatch.setattr(tracing, "emit", sent.append)
    return sent


def test_pynamodb_sessions_are_traced_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """PynamoDB creates a botocore session per thread: ``instrument_new_sessions`` reaches those."""
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model

    sent = _traced_lambda(monkeypatch, tmp_path)

    class Thing(Model):
        class Meta:
            table_name = "things"
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)

    tracing.instrument_new_sessions()
    tracing.instrument_new_sessions()  # once is enough
    with mock_aws():
        Thing.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        Thing("a").save()
    operations = [s.aws["operation"] for s in sent]
    assert "PutItem" in operations and "CreateTable" in operations
    assert operations.count("PutItem") == 1
    put = sent[operations.index("PutItem")]
    assert put.name == "dynamodb" and put.aws["table_name"] == "things" and put.parent_id == "53995c3f42cd8ad8"


def test_the_platforms_shared_clients_are_traced_once_per_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``platform.aws``'s session picks the handlers up from ``instrument_new_sessions`` alone: one
    subsegment per call, and each handler registered once on it (not also through ``instrument``)."""
    from marketplace.platform import aws

    sent = _traced_lambda(monkeypatch, tmp_path)
    runs: list[str] = []

    def counted(event: str, handler: Any) -> Any:
        def run(**kwargs: Any) -> None:
            runs.append(event)
            handler(**kwargs)

        return run

    monkeypatch.setattr(tracing, "_HANDLERS", tuple((event, counted(event, handler))
                                                    for event, handler in tracing._HANDLERS))
    tracing.instrument_new_sessions()  # what observability() does while a function loads, before any client
    aws.reset_clients()
    try:
        with mock_aws():
            aws.client("s3").list_buckets()
    finally:
        aws.reset_clients()
    assert [s.aws["operation"] for s in sent] == ["ListBuckets"]
    assert sorted(runs) == ["after-call", "before-call", "provide-client-params"]  # each ran once
