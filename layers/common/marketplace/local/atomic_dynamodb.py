"""DynamoDB applies a conditional write's check and its change atomically; moto does not lock them, so two
requests handled on two threads can both pass the same condition. This serializes moto's DynamoDB
operations, so the local runtime and the tests see DynamoDB's semantics when requests race (for example two
machines writing the same sync resource with the same ``If-Match``)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query")


def install() -> None:
    """Wrap moto's DynamoDB backend operations in one lock (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_marketplace_atomic", False):
            continue
        setattr(DynamoDBBackend, name, _locked(original))


def _locked(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return operation(*args, **kwargs)

    run._marketplace_atomic = True  # type: ignore[attr-defined]
    return run
