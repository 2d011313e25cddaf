"""Schedules: the local stand-in for the EventBridge rule that invokes a function with a ``ScheduleSource``.

A ``Scheduler`` invokes its function once when the runtime starts and then every ``interval`` seconds, with the
event EventBridge sends for a scheduled rule (``scheduled_event``). EventBridge invokes Lambda asynchronously;
as Lambda then does, a run that raises is retried ``max_retry_attempts`` times (locally after ``retry_delay``
seconds, where Lambda waits about a minute, then two), and after the last attempt an invocation record in the
shape of Lambda's on-failure destination (the event, the error) goes to the source's dead-letter queue.

Before each run, ``prepare`` is called: the mirror copies the operator's allow-list and deny-list files into the
packages bucket, where the function reads them as it does on AWS (``marketplace mirror configure`` puts them
there for a deployment). A ``prepare`` that fails skips the run (the poller's ``last_error`` says why).

The thread waits for its next run on the runtime's stop event, so it ends as soon as the runtime stops; a run
under way ends when the runtime stops the function's execution environment.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marketplace.local.context import ACCOUNT, REGION
from marketplace.local.environments import FunctionError, InvocationError
from marketplace.local.invoker import Invoker
from marketplace.local.pollers import Poller
from marketplace.platform import aws
from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from marketplace.platform.config import location

log = logging.getLogger("marketplace.local")

LOCAL_RETRY_DELAY_SECONDS = 1.0


def rule_arn(fn: fns.FunctionDef, stage: str) -> str:
    """The ARN of the function's rule, named as the stack names it (``stacks.schedules``)."""
    return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{fn.rule_name(stage)}"


def scheduled_event(rule: str, *, now: datetime | None = None, event_id: str | None = None) -> dict[str, Any]:
    """What EventBridge sends to a scheduled rule's target."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule],
        "detail": {},
    }


def _default_interval() -> float:
    source = fns.MIRROR.source
    assert isinstance(source, fns.ScheduleSource) and source.interval_seconds is not None
    return float(source.interval_seconds)


@dataclass(frozen=True)
class MirrorOptions:
    """The scheduled mirror of ``marketplace serve --mirror-upstream URL --mirror-allow FILE [--mirror-deny FILE]
    [--mirror-interval SECONDS]``: the lists are read from the files before every run."""

    settings: fns.MirrorSettings
    allow_file: Path
    deny_file: Path | None = None
    interval_seconds: float = _default_interval()

    def __post_init__(self) -> None:
        if not self.interval_seconds > 0:
            raise ValueError("the mirror's interval must be a positive number of seconds")

    def copy_lists(self) -> None:
        """Put the files' current contents where the mirror function reads them (the packages bucket's
        ``mirror_prefix``); without a deny-list file, no deny-list is there. An unreadable file raises."""
        allow = self.allow_file.read_bytes()
        deny = self.deny_file.read_bytes() if self.deny_file is not None else None
        s3, bucket = aws.client("s3"), location(r.PACKAGES_BUCKET)
        s3.put_object(Bucket=bucket, Key=fns.MIRROR_ALLOW_KEY, Body=allow, ContentType="text/plain; charset=utf-8")
        if deny is None:
            s3.delete_object(Bucket=bucket, Key=fns.MIRROR_DENY_KEY)
        else:
            s3.put_object(Bucket=bucket, Key=fns.MIRROR_DENY_KEY, Body=deny, ContentType="text/plain; charset=utf-8")


class Scheduler(Poller):
    """Runs ``fn`` on its schedule until stopped; ``runs`` and ``failures`` count the runs that returned and
    those that went to the dead-letter queue."""

    def __init__(self, fn: fns.FunctionDef, source: fns.ScheduleSource, invoker: Invoker, stop: threading.Event, *,
                 interval: float, rule: str, dead_letter_url: str, prepare: Callable[[], None] | None = None,
                 retry_delay: float = LOCAL_RETRY_DELAY_SECONDS) -> None:
        super().__init__(f"schedule:{source.expression}->{fn.name}", stop, interval=interval)
        self.fn, self.source, self.invoker, self.rule = fn, source, invoker, rule
        self.dead_letter_url, self.prepare, self.retry_delay = dead_letter_url, prepare, retry_delay
        self.runs = 0
        self.failures = 0
        self.last_result: Any = None

    def polled(self) -> None:
        """``last_error`` stays the last run's (cleared by a run that returns)."""

    def poll_once(self) -> bool:
        """One scheduled run, with its retries; ``False``, so the thread then waits for the next one."""
        if self.prepare is not None:
            self.prepare()
        event = scheduled_event(self.rule)
        attempts = 0
        while not self._stop_event.is_set():
            attempts += 1
            try:
                self.last_result = self.invoker.invoke(self.fn, event)
            except Exception as error:
                if self._stop_event.is_set():  # the runtime stopped the run's environment: not the run's failure
                    return False
                self.last_error = f"{type(error).__name__}: {error}"
                if attempts > self.source.max_retry_attempts:
                    log.error("%s failed %d times on its schedule; its event goes to the dead-letter queue",
                              self.fn.name, attempts)
                    self._dead_letter(event, error, attempts)
                    self.failures += 1
                    return False
                log.warning("%s failed on its schedule (attempt %d); retrying", self.fn.name, attempts)
                self._stop_event.wait(self.retry_delay)
                continue
            self.runs += 1
            self.last_error = None
            return False
        return False

    def _dead_letter(self, event: dict[str, Any], error: Exception, attempts: int) -> None:
        """Lambda's on-failure destination record of an asynchronous invocation whose retries are exhausted."""
        payload: dict[str, Any] = {"errorMessage": str(error), "errorType": type(error).__name__}
        if isinstance(error, FunctionError):
            payload = {"errorMessage": error.error_message, "errorType": error.error_type,
                       "stackTrace": error.stack}
        elif isinstance(error, InvocationError):
            payload = {"errorMessage": str(error), "errorType": error.error_type}
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.fn.name}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": payload,
        }
        aws.client("sqs").send_message(QueueUrl=self.dead_letter_url, MessageBody=json.dumps(record))
