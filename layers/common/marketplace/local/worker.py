"""One Lambda execution environment: a process that imports one function's handler and runs its invocations,
one at a time, as Lambda's runtime does.

``marketplace.local.environments`` starts it as ``python -m marketplace.local.worker --name NAME --module
functions.NAME.handler ... --requests FD --responses FD`` with the function's own environment variables. It
talks over two pipes (never stdin and stdout: the handler's logs go to stdout, as in Lambda) in frames of a
4-byte big-endian length and a JSON document:

- the worker first sends ``{"type": "ready", "init_ms": ...}``, or ``{"type": "init_error", ...}`` and exits
  (Lambda's ``Runtime.ImportModuleError``);
- then, per ``{"type": "invoke", "event": ..., "request_id": ..., "deadline_ms": ...}``, it answers
  ``{"type": "result", "value": ...}`` or ``{"type": "error", "errorType", "errorMessage", "stackTrace"}``
  (the function error Lambda reports for an unhandled exception; the environment is kept, as Lambda keeps it).

It ignores SIGINT (a Ctrl-C in the terminal reaches the whole process group; the runtime stops its workers
itself), exits when the request pipe closes, and exits within a second when its parent dies, so a
``kill -9`` of ``marketplace serve`` leaves no worker behind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # events are at most API Gateway's 10 MiB body, base64-encoded, plus headers


class ProtocolError(Exception):
    """The other end closed the pipe or sent something that is not a frame."""


def read_exact(fd: int, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ProtocolError("the pipe was closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict[str, Any]:
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size))
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes is larger than {MAX_FRAME}")
    document = json.loads(read_exact(fd, size))
    if not isinstance(document, dict):
        raise ProtocolError("a frame must hold a JSON object")
    return document


def encode_frame(document: dict[str, Any]) -> bytes:
    payload = json.dumps(document, separators=(",", ":")).encode()
    return HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _die_with_parent(interval: float = 1.0) -> None:
    """Exit when the runtime's process is gone, even in the middle of an invocation. (Not the kernel's
    ``PR_SET_PDEATHSIG``: it fires when the parent *thread* that started the worker ends, and the runtime
    starts environments from request threads.)"""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _error(error: BaseException) -> dict[str, Any]:
    return {"type": "error", "errorType": type(error).__name__, "errorMessage": str(error)[:4096],
            "stackTrace": traceback.format_exception(error)[-20:]}


def serve(args: argparse.Namespace) -> int:
    from marketplace.local.context import LocalContext

    started = time.monotonic()
    try:
        module = importlib.import_module(args.module)
        handler: Callable[[dict[str, Any], Any], Any] = getattr(module, args.handler)
    except Exception as error:
        write_all(args.responses, encode_frame({"type": "init_error", "errorType": type(error).__name__,
                                           "errorMessage": str(error)[:4096]}))
        return 1
    write_all(args.responses, encode_frame({"type": "ready", "init_ms": round((time.monotonic() - started) * 1000, 1)}))
    while True:
        try:
            message = read_frame(args.requests)
        except ProtocolError:  # the runtime closed the pipe: it is stopping this environment
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # as Lambda ends an environment: no interpreter finalization to wait for
        context = LocalContext(function_name=args.name, memory_limit_in_mb=args.memory,
                               timeout_seconds=args.timeout)
        context.aws_request_id = str(message.get("request_id") or context.aws_request_id)
        context.log_stream_name = f"local/{os.getpid()}"
        try:
            value = handler(message.get("event") or {}, context)
            answer = encode_frame({"type": "result", "value": value})
        except Exception as error:  # an unhandled exception is the invocation's function error
            failure = _error(error)
            # Lambda's Python runtime logs the error and its stack before it reports the function error
            print(f"[ERROR] {failure['errorType']}: {failure['errorMessage']}\n{''.join(failure['stackTrace'])}",
                  file=sys.stderr, flush=True)
            answer = encode_frame(failure)
        write_all(args.responses, answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marketplace.local.worker")
    parser.add_argument("--name", required=True, help="the function's name")
    parser.add_argument("--module", required=True, help="the handler's module (functions.<name>.handler)")
    parser.add_argument("--handler", default="lambda_handler", help="the handler's name in the module")
    parser.add_argument("--memory", type=int, default=128, help="the function's memory in MB (for its context)")
    parser.add_argument("--timeout", type=int, default=3, help="the function's timeout in seconds")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--responses", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
