"""What the service modules share to write moto's objects as JSON records and to put many of them back fast."""

from __future__ import annotations

import base64
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any


def tagged(value: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as JSON, bytes and datetimes tagged (``{"$bytes": ...}``, ``{"$datetime": ...}``) so ``untagged``
    gives back exactly what moto held; ``convert`` first turns objects of the caller's own kinds into plain values
    (or returns them unchanged)."""
    if convert is not None:
        value = convert(value)
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): tagged(v, convert) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tagged(v, convert) for v in value]
    return value


def untagged(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((name, inner),) = value.items()
            if name == "$bytes" and isinstance(inner, str):
                return base64.b64decode(inner)
            if name == "$datetime" and isinstance(inner, str):
                return datetime.fromisoformat(inner)
        return {k: untagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untagged(v) for v in value]
    return value


@contextmanager
def collection_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while a restore builds many objects: each pass would walk everything built
    so far (more than half the time of a large restore), and nothing built there is garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
