"""Execution environments for the local runtime: each function's handler runs in worker processes of its own
(``marketplace.local.worker``), as Lambda runs each invocation in an environment that no other invocation
shares at the same moment.

A ``FunctionPool`` holds up to ``limit`` environments of one function. An invocation takes an idle one, or
starts a new one (a cold start, paid by that invocation) while fewer than ``limit`` exist, or waits for one to
come free. Each environment runs one invocation at a time; module state is therefore never seen by two requests at
once, as on Lambda, and environment variables are the function's own.

Failures are Lambda's: an unhandled exception is a function error (the environment is kept); an environment
that dies mid-invocation (``Runtime.ExitError``) or runs past the function's timeout (``Sandbox.Timedout``)
is killed and replaced by the next invocation's cold start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketplace.local import worker
from marketplace.platform.functions import FunctionDef

log = logging.getLogger("marketplace.local")

# Lambda allows a function's init phase (the handler's import) 10 s. Locally a loaded two-core machine starting
# every function's environment at once can take longer than that without anything being wrong, so the local
# limit only catches a handler that hangs.
INIT_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 2.0


class InvocationError(Exception):
    """An invocation that did not return a value; ``error_type`` is the one Lambda reports."""

    error_type = "Unhandled"

    def __init__(self, function: str, message: str) -> None:
        super().__init__(f"{function}: {message}")
        self.function = function


class FunctionError(InvocationError):
    """The handler raised (Lambda: ``functionError: Unhandled``)."""

    def __init__(self, function: str, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(function, f"{error_type}: {message}")
        self.error_type, self.error_message, self.stack = error_type, message, stack or []


class FunctionTimeout(InvocationError):
    error_type = "Sandbox.Timedout"


class FunctionCrashed(InvocationError):
    error_type = "Runtime.ExitError"


class FunctionInitError(InvocationError):
    error_type = "Runtime.ImportModuleError"


class _Environment:
    """One worker process and its two pipes."""

    def __init__(self, fn: FunctionDef, env: Mapping[str, str], cwd: Path) -> None:
        self.fn = fn
        request_read, self._requests = os.pipe()
        self._responses, response_write = os.pipe()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "marketplace.local.worker", "--name", fn.name, "--module", fn.module,
                 "--handler", fn.handler.split(".")[-1], "--memory", str(fn.memory_mb),
                 "--timeout", str(fn.timeout_seconds),
                 "--requests", str(request_read), "--responses", str(response_write)],
                env=dict(env), cwd=cwd, pass_fds=(request_read, response_write), stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(request_read)
            os.close(response_write)
        self.invocations = 0
        self.init_ms: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next frame, or ``None`` when the deadline passes first."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([self._responses], [], [], remaining)
        if not ready:
            return None
        try:
            return worker.read_frame(self._responses)
        except (worker.ProtocolError, json.JSONDecodeError, OSError) as error:
            raise FunctionCrashed(self.fn.name, f"the environment exited ({error})") from None

    def wait_ready(self, timeout: float = INIT_TIMEOUT_SECONDS) -> None:
        frame = self._read(time.monotonic() + timeout)
        if frame is None:
            self.kill()
            raise FunctionInitError(self.fn.name, f"the handler did not load within {timeout:.0f} s")
        if frame.get("type") != "ready":
            self.kill()
            raise FunctionInitError(self.fn.name, f"{frame.get('errorType')}: {frame.get('errorMessage')}")
        self.init_ms = float(frame.get("init_ms") or 0)

    def invoke(self, event: dict[str, Any], timeout: float) -> Any:
        request_id = str(uuid.uuid4())
        frame = worker.encode_frame({"type": "invoke", "event": event, "request_id": request_id,
                                     "deadline_ms": int(timeout * 1000)})
        try:
            worker.write_all(self._requests, frame)
        except OSError as error:
            raise FunctionCrashed(self.fn.name, f"the environment exited ({error})") from None
        self.invocations += 1
        answer = self._read(time.monotonic() + timeout)
        if answer is None:
            raise FunctionTimeout(self.fn.name, f"Task timed out after {timeout:.2f} seconds")
        if answer.get("type") == "result":
            return answer.get("value")
        if answer.get("type") == "error":
            raise FunctionError(self.fn.name, str(answer.get("errorType")), str(answer.get("errorMessage")),
                                list(answer.get("stackTrace") or []))
        raise FunctionCrashed(self.fn.name, f"unexpected answer {str(answer.get('type'))[:40]!r}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close()

    def stop(self) -> None:
        """Close the request pipe (the worker exits at once when idle); kill it if it does not."""
        self._close()
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _close(self) -> None:
        for name in ("_requests", "_responses"):
            fd = getattr(self, name)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)


@dataclass
class PoolReport:
    limit: int
    environments: int
    busy: int
    cold_starts: int
    replaced: int
    init_error: str | None


class FunctionPool:
    """Up to ``limit`` environments of one function."""

    def __init__(self, fn: FunctionDef, env: Mapping[str, str], *, limit: int, cwd: Path,
                 timeout_seconds: float | None = None) -> None:
        if limit < 1:
            raise ValueError("a function needs at least one environment")
        self.fn, self.env, self.limit, self.cwd = fn, dict(env), limit, cwd
        self.timeout = float(timeout_seconds if timeout_seconds is not None else fn.timeout_seconds)
        self._idle: list[_Environment] = []
        self._all: set[_Environment] = set()
        self._count = 0  # environments that exist or are starting
        self._busy = 0
        self._condition = threading.Condition()
        self._closed = False
        self.cold_starts = 0
        self.replaced = 0
        self.init_error: str | None = None

    def _spawn(self) -> _Environment:
        environment = _Environment(self.fn, self.env, self.cwd)
        with self._condition:
            self._all.add(environment)
        try:
            environment.wait_ready()
        except BaseException as error:
            with self._condition:
                self._all.discard(environment)
            environment.kill()
            if isinstance(error, InvocationError):
                self.init_error = str(error)
            raise
        self.init_error = None
        self.cold_starts += 1
        log.debug("%s: new environment (pid %d) ready in %.0f ms", self.fn.name, environment.pid,
                  environment.init_ms or 0)
        return environment

    def prewarm(self) -> None:
        """Start one environment now (the runtime does this at start for every function)."""
        with self._condition:
            if self._closed or self._count >= self.limit:
                return
            self._count += 1
        try:
            environment = self._spawn()
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify()
            raise
        self._release(environment)

    def _acquire(self) -> _Environment:
        with self._condition:
            while True:
                if self._closed:
                    raise FunctionCrashed(self.fn.name, "the runtime is stopping")
                while self._idle:
                    environment = self._idle.pop()
                    if environment.alive():
                        self._busy += 1
                        return environment
                    self._all.discard(environment)
                    environment.kill()  # died while idle: it is replaced below
                    self._count -= 1
                    self.replaced += 1
                if self._count < self.limit:
                    self._count += 1
                    self._busy += 1
                    break
                self._condition.wait()
        try:
            return self._spawn()
        except BaseException:
            with self._condition:
                self._count -= 1
                self._busy -= 1
                self._condition.notify()
            raise

    def _release(self, environment: _Environment | None) -> None:
        with self._condition:
            if environment is None:  # it was killed: its slot is free for a new one
                self._count -= 1
                self.replaced += 1
            elif self._closed:
                self._all.discard(environment)
                environment.stop()
                self._count -= 1
            else:
                self._idle.append(environment)
            self._condition.notify()

    def invoke(self, event: dict[str, Any]) -> Any:
        environment = self._acquire()
        keep: _Environment | None = environment
        try:
            return environment.invoke(event, self.timeout)
        except (FunctionTimeout, FunctionCrashed):
            with self._condition:
                self._all.discard(environment)
            environment.kill()
            keep = None
            raise
        finally:
            with self._condition:
                self._busy -= 1
            self._release(keep)

    def report(self) -> PoolReport:
        with self._condition:
            return PoolReport(self.limit, self._count, self._busy, self.cold_starts, self.replaced, self.init_error)

    def pids(self) -> list[int]:
        """The process ids of the environments that exist now."""
        with self._condition:
            return sorted(e.pid for e in self._all)

    def close(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop the idle environments; kill, after ``grace_seconds``, those still running an invocation
        (whose caller then sees ``FunctionCrashed``: an event-source message is delivered again later)."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            for environment in idle:
                self._all.discard(environment)
            self._condition.notify_all()
        for environment in idle:
            environment.stop()
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            with self._condition:
                if not self._all:
                    return
            time.sleep(0.05)
        with self._condition:
            busy = list(self._all)
        for environment in busy:
            if environment.process.poll() is None:
                environment.process.kill()
