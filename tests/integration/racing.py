"""Requests that race for real: each event goes to the handler in its own process (as separate Lambda
instances would), all released together by a barrier, against moto's server so they share one backend.

Threads would not do: a Lambda instance serves one request at a time, with its own module state, and the
race is between instances.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from typing import Any

from tests.integration.events import context


def _invoke(function: str, env: dict[str, str], event: dict[str, Any], barrier: Any, out: Any, index: int) -> None:
    os.environ.update(env)
    handler = importlib.import_module(f"functions.{function}.handler")
    barrier.wait(timeout=60)
    answer = handler.lambda_handler(event, context(function))
    out.put((index, answer))


def race(function: str, env: dict[str, str], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The handler's answers to ``events``, in the order given, after invoking them all at once."""
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(len(events)), spawn.Queue()
    processes = [spawn.Process(target=_invoke, args=(function, env, event, barrier, out, i))
                 for i, event in enumerate(events)]
    for process in processes:
        process.start()
    answers = dict(out.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    return [answers[i] for i in range(len(events))]
