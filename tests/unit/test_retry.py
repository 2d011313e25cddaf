"""The one retry policy (``platform.retry.Backoff``): its pauses, its attempts, its deadline, and which
exceptions and outcomes it retries. No test sleeps: ``sleep``, ``random`` and ``clock`` are injected."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from marketplace.platform.retry import Backoff
from tests.fakes.clock import Clock


def policy(attempts: int | None = 4, *, base: float = 0.1, cap: float = float("inf"),
           jitter: float = 1.0) -> tuple[Backoff, Clock]:
    clock = Clock()
    return Backoff(attempts, base, cap, sleep=clock.sleep, random=lambda: jitter, clock=clock), clock


def test_pauses_double_up_to_the_cap():
    backoff, _ = policy(base=0.05, cap=0.3)
    assert [backoff.delay(n) for n in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]


def test_full_jitter_scales_the_bound_and_no_jitter_is_the_bound():
    jittered, _ = policy(base=0.2, jitter=0.25)
    assert [jittered.delay(n) for n in range(3)] == [0.05, 0.1, 0.2]
    exact = replace(jittered, jitter=False)
    assert [exact.delay(n) for n in range(3)] == [0.2, 0.4, 0.8]


def test_the_default_randomness_stays_within_the_bound():
    backoff = Backoff(attempts=3, base=0.5, cap=1.0)
    assert all(0 <= backoff.delay(n) <= min(1.0, 0.5 * 2**n) for n in range(6) for _ in range(50))


def test_tries_pause_between_attempts_and_never_after_the_last():
    backoff, clock = policy(attempts=4)
    assert list(backoff.tries()) == [0, 1, 2, 3]
    assert clock.sleeps == [0.1, 0.2, 0.4]


def test_a_loop_that_succeeds_stops_pausing():
    backoff, clock = policy(attempts=5)
    for attempt in backoff.tries():
        if attempt == 1:
            break
    assert clock.sleeps == [0.1]


def test_a_deadline_ends_the_tries_before_a_pause_that_would_pass_it():
    backoff, clock = policy(attempts=None, base=0.1)
    assert list(backoff.tries(deadline=0.75)) == [0, 1, 2, 3]  # at 0, 0.1, 0.3 and 0.7; 0.7 + 0.8 is too late
    assert clock.sleeps == [0.1, 0.2, 0.4]


def test_a_deadline_already_past_still_allows_the_first_attempt():
    backoff, clock = policy(attempts=None)
    clock.now = 10.0
    assert list(backoff.tries(deadline=1.0)) == [0] and clock.sleeps == []


def test_call_retries_the_named_exceptions_and_returns_the_first_success():
    backoff, clock = policy(attempts=5)
    results: list[object] = [KeyError("busy"), KeyError("busy"), "done"]
    heard: list[tuple[int, str]] = []

    def attempt() -> object:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    assert backoff.call(attempt, retry_on=(KeyError,), on_retry=lambda n, e: heard.append((n, repr(e)))) == "done"
    assert heard == [(0, "KeyError('busy')"), (1, "KeyError('busy')")] and clock.sleeps == [0.1, 0.2]


def test_call_raises_the_last_exception_when_the_attempts_run_out():
    backoff, clock = policy(attempts=3)
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise TimeoutError(f"attempt {len(calls)}")

    with pytest.raises(TimeoutError, match="attempt 3"):
        backoff.call(attempt, retry_on=(TimeoutError,))
    assert len(calls) == 3 and clock.sleeps == [0.1, 0.2]


def test_call_never_retries_other_exceptions():
    backoff, clock = policy(attempts=3)
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise ValueError("a bug, not contention")

    with pytest.raises(ValueError, match="a bug"):
        backoff.call(attempt, retry_on=(TimeoutError,))
    assert calls == [1] and clock.sleeps == []


def test_call_retries_outcomes_and_returns_the_last_one_when_out_of_attempts():
    backoff, clock = policy(attempts=3)
    outcomes = [[1, 2, 3], [2], [2], [2]]
    heard: list[tuple[int, object]] = []
    assert backoff.call(lambda: outcomes.pop(0), retry_if=bool, on_retry=lambda n, e: heard.append((n, e))) == [2]
    assert clock.sleeps == [0.1, 0.2] and heard == [(0, None), (1, None)]  # still failing: returned, not dropped
    outcomes = [[1], []]
    assert backoff.call(lambda: outcomes.pop(0), retry_if=bool) == []


def test_call_stops_at_the_deadline():
    backoff, clock = policy(attempts=None, base=0.5)
    calls: list[int] = []

    def attempt() -> list[int]:
        calls.append(1)
        return [1]

    assert backoff.call(attempt, retry_if=bool, deadline=1.0) == [1]
    assert len(calls) == 2 and clock.sleeps == [0.5]  # then 0.5 + 1.0 would reach the deadline


def test_a_policy_needs_an_attempt_and_no_negative_delays():
    with pytest.raises(ValueError, match="at least one attempt"):
        Backoff(attempts=0, base=0.1)
    with pytest.raises(ValueError, match="negative"):
        Backoff(attempts=2, base=-1.0)


def test_the_module_imports_nothing_heavy():
    """Every function loads it at cold start: only the standard library's light modules."""
    code = ("import sys; before = set(sys.modules); import marketplace.platform.retry; "
            "print(sorted(set(sys.modules) - before))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    for heavy in ("boto3", "botocore", "pynamodb", "aws_lambda_powertools", "cryptography", "pydantic"):
        assert heavy not in loaded, loaded
