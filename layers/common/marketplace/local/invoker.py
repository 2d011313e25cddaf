"""Invokes the deployed handler modules (``functions/<name>/handler.py``) as Lambda does.

Each function's handler runs in execution environments of its own (``marketplace.local.environments``):
worker processes with the function's own environment variables and module state, up to a number of them per
function, each running one invocation at a time. Nothing a request leaves in a module global can reach a
request of another function, nor a concurrent request of the same one.

Tests may replace a function's code with an in-process callable (``overrides``): a fake function body that
records what it is given. Those run in this process, one invocation at a time per function.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from marketplace.local.context import LocalContext
from marketplace.local.environments import FunctionPool, InvocationError, PoolReport
from marketplace.platform.functions import FunctionDef

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("marketplace.local")


def project_root() -> Path:
    """The checkout the package was installed from (it holds ``functions/``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "functions").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError("cannot find the project root (a folder with functions/ and pyproject.toml)")


class Invoker:
    def __init__(self, overrides: Mapping[str, Handler] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._locks = {name: threading.Lock() for name in self._overrides}
        self._pools: dict[str, FunctionPool] = {}

    def start(self, functions: Mapping[FunctionDef, tuple[Mapping[str, str], int]],
              on_demand: Collection[str] = ()) -> None:
        """Start one environment of each function (``{definition: (environment variables, limit)}``), all at
        once, except those named in ``on_demand``, whose first invocation starts one; a handler that cannot load
        is logged here and reported by its pool (``report``)."""
        root = project_root()
        for fn, (env, limit) in functions.items():
            if fn.name not in self._overrides:
                self._pools[fn.name] = FunctionPool(fn, env, limit=limit, cwd=root)
        if not self._pools:
            return

        def warm(pool: FunctionPool) -> None:
            try:
                pool.prewarm()
            except InvocationError as error:
                log.error("cannot load the handler of %s: %s", pool.fn.name, error)

        warmed = [pool for name, pool in self._pools.items() if name not in on_demand]
        if not warmed:
            return
        with ThreadPoolExecutor(max_workers=len(warmed), thread_name_prefix="prewarm") as executor:
            list(executor.map(warm, warmed))

    def invoke(self, fn: FunctionDef, event: dict[str, Any]) -> Any:
        """Invoke like Lambda's synchronous invoke; an ``InvocationError`` is the function error."""
        override = self._overrides.get(fn.name)
        if override is not None:
            with self._locks[fn.name]:
                started = time.monotonic()
                try:
                    return override(event, LocalContext.for_function(fn))
                finally:
                    if time.monotonic() - started > fn.timeout_seconds:
                        log.warning("%s ran past its %ss timeout", fn.name, fn.timeout_seconds)
        pool = self._pools.get(fn.name)
        if pool is None:
            raise KeyError(f"{fn.name} is not running here")
        return pool.invoke(event)

    def report(self) -> dict[str, PoolReport]:
        return {name: pool.report() for name, pool in self._pools.items()}

    def pool(self, name: str) -> FunctionPool:
        return self._pools[name]

    def stop(self) -> None:
        pools = list(self._pools.values())
        with ThreadPoolExecutor(max_workers=max(1, len(pools))) as executor:
            list(executor.map(lambda pool: pool.close(), pools))
