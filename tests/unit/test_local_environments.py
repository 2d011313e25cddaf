"""Execution environments of the local runtime: worker processes with their own module state and environment
variables, a bounded number per function, and Lambda's outcomes for errors, crashes and timeouts."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from marketplace.local.environments import (
    FunctionCrashed,
    FunctionError,
    FunctionInitError,
    FunctionPool,
    FunctionTimeout,
)
from marketplace.platform.functions import FunctionDef

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class _TestFunction(FunctionDef):
    entry: str = "tests.unit.local_handlers.handler"

    @property
    def module(self) -> str:
        return self.entry


def _pool(limit: int = 2, timeout: int = 5, entry: str = "tests.unit.local_handlers.handler",
          env: dict[str, str] | None = None) -> FunctionPool:
    fn = _TestFunction(name="probe", purpose="tests", memory_mb=256, timeout_seconds=timeout, entry=entry)
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **(env or {})}
    return FunctionPool(fn, base, limit=limit, cwd=ROOT)


@pytest.fixture
def pool():
    created = _pool()
    yield created
    created.close()


def test_an_invocation_runs_in_another_process_with_the_functions_own_environment(pool):
    pool.close()
    pool = _pool(env={"ONLY_HERE": "yes"})
    try:
        os.environ["NOT_PASSED"] = "leak"
        answer = pool.invoke({"echo": "hello", "variables": ["ONLY_HERE", "NOT_PASSED"]})
    finally:
        os.environ.pop("NOT_PASSED", None)
        pool.close()
    assert answer["pid"] != os.getpid()
    assert answer["echo"] == "hello" and answer["function"] == "probe"
    assert answer["seen"] == {"ONLY_HERE": "yes", "NOT_PASSED": None}
    assert 0 < answer["remaining_ms"] <= 5000


def test_an_environment_is_reused_and_keeps_its_module_state(pool):
    first, second = pool.invoke({}), pool.invoke({})
    assert first["pid"] == second["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)
    assert pool.report().cold_starts == 1


def test_concurrent_invocations_get_separate_environments_up_to_the_limit(pool):
    start = threading.Barrier(4)

    def call(_: int) -> int:
        start.wait()
        return int(pool.invoke({"action": "sleep", "seconds": 0.5})["pid"])

    with ThreadPoolExecutor(max_workers=4) as executor:
        pids = list(executor.map(call, range(4)))
    assert len(set(pids)) == 2  # four callers, two environments: the others waited for a free one
    report = pool.report()
    assert (report.environments, report.busy, report.cold_starts) == (2, 0, 2)


def test_a_handler_exception_is_a_function_error_and_the_environment_stays(pool):
    before = pool.invoke({})["pid"]
    with pytest.raises(FunctionError) as raised:
        pool.invoke({"action": "raise"})
    assert raised.value.error_type == "ValueError" and "the handler refused" in raised.value.error_message
    assert any("lambda_handler" in line for line in raised.value.stack)
    assert pool.invoke({})["pid"] == before


def test_an_unserializable_result_is_a_function_error(pool):
    with pytest.raises(FunctionError) as raised:
        pool.invoke({"action": "unserializable"})
    assert raised.value.error_type == "TypeError"


def test_a_crashed_environment_is_replaced(pool):
    before = pool.invoke({})["pid"]
    with pytest.raises(FunctionCrashed):
        pool.invoke({"action": "crash"})
    after = pool.invoke({})
    assert after["pid"] != before and after["calls"] == 1
    assert pool.report().replaced == 1


def test_an_invocation_past_the_timeout_is_stopped_and_its_environment_replaced():
    pool = _pool(timeout=1)
    try:
        before = pool.invoke({})["pid"]
        started = time.monotonic()
        with pytest.raises(FunctionTimeout) as raised:
            pool.invoke({"action": "sleep", "seconds": 30})
        assert time.monotonic() - started < 5
        assert "Task timed out after 1.00 seconds" in str(raised.value)
        with pytest.raises(ProcessLookupError):
            os.kill(before, 0)  # the worker that ran past its timeout is gone
        assert pool.invoke({})["pid"] != before
    finally:
        pool.close()


def test_a_handler_that_cannot_load_is_an_init_error():
    pool = _pool(entry="tests.unit.local_handlers.broken")
    try:
        with pytest.raises(FunctionInitError) as raised:
            pool.prewarm()
        assert "broken on purpose" in str(raised.value)
        assert pool.report().init_error is not None
        with pytest.raises(FunctionInitError):
            pool.invoke({})
    finally:
        pool.close()


def test_close_stops_every_worker(pool):
    pids = {pool.invoke({})["pid"]}
    pool.close()
    for pid in pids:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"worker {pid} still runs after close")
    with pytest.raises(FunctionCrashed):
        pool.invoke({})
