"""platform.coldstart: a function loads with the garbage collector paused, and nothing else is left changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from marketplace.platform.functions import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import gc, json, sys
if sys.argv[2] == "off":
    gc.disable()
seen, loading = [], []
if sys.argv[1].startswith("functions."):
    # what a handler imports first; a collection while Python loads the packages around it is not counted
    from marketplace.platform import coldstart
gc.callbacks.append(lambda phase, info: seen.append(phase))  # every collection, from now on
if sys.argv[1].startswith("functions."):
    loaded = coldstart.loaded
    def counted():
        loading.append(len(seen))  # the collections until the function says it has loaded
        loaded()
    coldstart.loaded = counted
import importlib
importlib.import_module(sys.argv[1])
loading = loading[0] if loading else len(seen)
print(json.dumps({"collections while loading": loading, "enabled after": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


def _load(module: str, collector: str, **environment: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "POWERTOOLS_"))}
    env.update({"PYTHONPATH": str(ROOT), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_TRACE_DISABLED": "true", **environment})
    out = subprocess.run([sys.executable, "-c", _PROBE, module, collector], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)
    answer: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("function", [fn.name for fn in FUNCTIONS])
def test_a_function_loads_without_a_collection_and_restarts_the_collector(function: str) -> None:
    loaded = _load(f"functions.{function}.handler", "on", AWS_LAMBDA_FUNCTION_NAME=function)
    assert loaded["collections while loading"] == 0
    assert loaded["enabled after"] is True
    assert isinstance(loaded["frozen"], int) and loaded["frozen"] > 10_000  # what it loaded leaves the generations


def test_outside_a_functions_process_nothing_is_frozen() -> None:
    loaded = _load("functions.gallery.handler", "on")
    assert loaded["enabled after"] is True
    assert loaded["frozen"] == 0


def test_a_collector_paused_before_stays_paused() -> None:
    assert _load("functions.gallery.handler", "off", AWS_LAMBDA_FUNCTION_NAME="gallery")["enabled after"] is False


def test_without_the_pause_the_same_load_collects() -> None:
    """The guard against a test that cannot fail: loading the same modules with the collector running does
    collect (so the zero above is the pause's doing)."""
    loaded = _load("marketplace.gallery.openvsx_routes", "on")
    assert isinstance(loaded["collections while loading"], int) and loaded["collections while loading"] > 0
