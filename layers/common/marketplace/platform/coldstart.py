"""A function loads with the garbage collector paused.

Loading a function creates tens of thousands of objects (modules, classes, functions, the SDK's models and
clients) that live as long as the process. While they load, the cyclic collector runs every few hundred
allocations and walks more of them each time, freeing nothing: about 30 ms of each function's cold start
on the benchmarks' machine (``./dev bench --only cold-start``; docs/benchmarks.md). So a handler module
imports this module before anything else, which pauses the collector, and calls ``loaded()`` as its last
statement, which starts it again. In a function's own process (Lambda's, or the local runtime's workers)
``loaded()`` first freezes what was loaded: those objects leave the collector's generations for good, so
the collections during invocations do not walk them either. (Cyclic garbage left by loading is frozen
with them and never freed: a one-time amount, far cheaper than the full collection that would find it.)
"""

from __future__ import annotations

import gc
import os

_was_enabled = gc.isenabled()
gc.disable()


def loaded() -> None:
    """The function has loaded: freeze what it loaded (in its own process) and restart the collector."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        gc.freeze()
    if _was_enabled:
        gc.enable()
