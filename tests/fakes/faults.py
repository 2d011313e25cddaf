"""Scripted faults for the in-memory fakes: what a test wants to happen before a named operation runs.

A fake calls ``faults.run(operation)`` first in each of its operations. An action given to ``before`` may
raise (the operation then fails as the adapter's would) or change the fake's state through its public
methods, which is how a test stages another writer winning a race between a read and a write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class Faults:
    def __init__(self) -> None:
        self._plans: dict[str, list[tuple[Callable[[], object], int | None]]] = {}
        self.calls: Counter[str] = Counter()
        self._running = False

    def before(self, operation: str, action: Callable[[], object], *, times: int | None = 1) -> None:
        """Run ``action`` before the next ``times`` calls of ``operation`` (``None``: every call); what it
        returns is ignored."""
        self._plans.setdefault(operation, []).append((action, times))

    def fail(self, operation: str, error: BaseException | Callable[[], BaseException], *,
             times: int | None = 1) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``error`` (or what ``error()`` makes)."""

        def action() -> None:
            raise error if isinstance(error, BaseException) else error()

        self.before(operation, action, times=times)

    def clear(self) -> None:
        self._plans.clear()

    def run(self, operation: str) -> None:
        """Count the call, then run the first pending action for it (none while an action itself runs:
        the other writer an action plays goes through the fake undisturbed)."""
        if self._running:
            return
        self.calls[operation] += 1
        plans = self._plans.get(operation)
        if not plans:
            return
        action, times = plans[0]
        if times is not None:
            if times <= 1:
                plans.pop(0)
            else:
                plans[0] = (action, times - 1)
        self._running = True
        try:
            action()
        finally:
            self._running = False
