"""A durable data directory for ``marketplace serve``: moto's state captured as it changes and restored at
start-up, so the embedded AWS backend keeps every table item, object, key, message and stream record across
restarts and crashes (``docs/durable-registry.md``).

moto has no persistence of its own, and replaying the calls that built a state would make new KMS key
material (data encrypted before would not decrypt) and new ids. So each service module here hooks the moto
backend methods that change state and records the *resulting* state in the ``DataStore``, inside the request,
before moto answers it; at start-up it puts that state back into the backend objects directly.

Each service module has ``install()`` (class-level hooks, idempotent; they do nothing unless a store is
active in this process) and ``restore(store)``. Hooks write only while ``active()`` returns a store and
``restoring()`` is false.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from marketplace.local.durable.store import DataStore

_active: DataStore | None = None
_restoring = threading.local()


def activate(store: DataStore | None) -> None:
    """Make ``store`` the one the hooks write to (``None``: stop persisting)."""
    global _active
    _active = store


def active() -> DataStore | None:
    """The store hooks write to, or ``None`` while nothing is persisted or a restore is running here."""
    if getattr(_restoring, "on", False):
        return None
    return _active


@contextmanager
def restoring() -> Iterator[None]:
    """Backend calls made inside the block (on this thread) are not persisted: they put back what is stored."""
    previous = getattr(_restoring, "on", False)
    _restoring.on = True
    try:
        yield
    finally:
        _restoring.on = previous
