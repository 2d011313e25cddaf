"""Loads the deployed handler modules (``functions/<name>/handler.py``) and invokes them.

Each function gets one execution environment, as a Lambda function with one warm instance: invocations of
the same function are serialized (Powertools resolvers keep per-invocation state in module globals, just
as they may in Lambda), while different functions run concurrently.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from marketplace.local.context import LocalContext
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
        self._handlers: dict[str, Handler] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        root = str(project_root())
        if root not in sys.path:
            sys.path.insert(0, root)

    def load(self, fn: FunctionDef) -> Handler:
        with self._guard:
            if fn.name not in self._handlers:
                handler = self._overrides.get(fn.name)
                if handler is None:
                    module = importlib.import_module(fn.module)
                    handler = getattr(module, fn.handler.split(".")[-1])
                self._handlers[fn.name] = handler
                self._locks[fn.name] = threading.Lock()
            return self._handlers[fn.name]

    def invoke(self, fn: FunctionDef, event: dict[str, Any]) -> Any:
        """Invoke like Lambda's synchronous invoke; an exception is the function error, re-raised."""
        handler = self.load(fn)
        with self._locks[fn.name]:
            context = LocalContext.for_function(fn)
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                elapsed = time.monotonic() - started
                if elapsed > fn.timeout_seconds:
                    log.warning("%s ran %.1fs, past its %ss timeout: Lambda would have stopped it",
                                fn.name, elapsed, fn.timeout_seconds)
