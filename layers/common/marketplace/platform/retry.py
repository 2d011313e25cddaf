"""One retry policy for every loop that tries again after a conflict, contention or a partial failure: how
many attempts, how long to wait between them, and which exceptions or outcomes deserve another attempt.

The wait after failed attempt ``n`` (counted from 0) is AWS' "full jitter": a random time between 0 and
``base * 2**n``, capped at ``cap``; without jitter, exactly that bound. Sleeping, randomness and the clock
are fields, so tests run a loop without waiting and with known pauses (``dataclasses.replace``). Only light
standard-library modules are imported: every function loads this at cold start.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def _final(_: object) -> bool:
    return False


@dataclass(frozen=True)
class Backoff:
    attempts: int | None  # ``None``: no limit of its own, the caller's deadline ends the loop
    base: float  # seconds: the bound of the first pause
    cap: float = float("inf")  # seconds: no pause is longer
    jitter: bool = True
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random  # a float in [0, 1)
    clock: Callable[[], float] = time.monotonic  # what a deadline is measured against

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if self.base < 0 or self.cap < 0:
            raise ValueError("retry delays cannot be negative")

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt ``attempt``."""
        bound = min(self.cap, self.base * 2.0**attempt)
        return self.random() * bound if self.jitter else bound

    def pause(self, attempt: int) -> None:
        self.sleep(self.delay(attempt))

    def tries(self, deadline: float | None = None) -> Iterator[int]:
        """Attempt numbers 0, 1, 2, ... for a ``for`` loop whose body makes one attempt, leaves the loop on
        success and ``continue``s on a failure worth another attempt. Each number after the first comes after
        its pause. The iteration ends when the attempts are used up, or when the next pause would end at or
        after ``deadline`` (a ``clock()`` time; that pause is not slept): the code after the loop gives up."""
        attempt = 0
        while True:
            yield attempt
            wait = self._next_wait(attempt, deadline)
            if wait is None:
                return
            self.sleep(wait)
            attempt += 1

    def call(self, attempt: Callable[[], T], *, retry_on: tuple[type[BaseException], ...] = (),
             retry_if: Callable[[T], bool] = _final, deadline: float | None = None,
             on_retry: Callable[[int, BaseException | None], None] | None = None) -> T:
        """Run ``attempt`` again while it raises one of ``retry_on`` or returns an outcome ``retry_if`` holds
        for. When the attempts (or the time before ``deadline``) run out, the last exception is raised again,
        or the last outcome returned. ``on_retry(n, error)`` hears of each attempt ``n`` about to be retried
        (``error`` is ``None`` when it was the outcome). Other exceptions are never retried."""
        number = 0
        while True:
            try:
                outcome = attempt()
            except retry_on as error:
                wait = self._next_wait(number, deadline)
                if wait is None:
                    raise
                if on_retry is not None:
                    on_retry(number, error)
            else:
                if not retry_if(outcome):
                    return outcome
                wait = self._next_wait(number, deadline)
                if wait is None:
                    return outcome
                if on_retry is not None:
                    on_retry(number, None)
            self.sleep(wait)
            number += 1

    def _next_wait(self, attempt: int, deadline: float | None) -> float | None:
        """The pause before the attempt after ``attempt``, or ``None`` when there is to be none."""
        if self.attempts is not None and attempt + 1 >= self.attempts:
            return None
        wait = self.delay(attempt)
        if deadline is not None and self.clock() + wait >= deadline:
            return None
        return wait
