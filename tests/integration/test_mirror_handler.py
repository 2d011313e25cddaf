"""The scheduled mirror function against moto and a fake upstream on 127.0.0.1 (``tests.fakes.openvsx_upstream``):
the scheduled event runs it and nothing else does; the lists come from the packages bucket (none: nothing is
mirrored); every package goes through the real importer and ingest; per-version rejections are reported, a run
that fails as a whole raises; the time budget stops new downloads and the next run takes the rest."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.mirror import handler
from marketplace.catalog import store as catalog
from marketplace.local.context import LocalContext
from marketplace.local.scheduler import rule_arn, scheduled_event
from marketplace.mirror import engine
from marketplace.mirror.upstream import RetryPolicy, Upstream
from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from marketplace.platform.retry import Backoff
from marketplace.publishing import store
from tests import vsix_factory
from tests.fakes.openvsx_upstream import FakeUpstream, Fault, serving
from tests.integration.events import context, sqs_event
from tests.integration.test_import import deliver

EVENT = scheduled_event(rule_arn(fns.MIRROR, "test"), now=datetime(2026, 3, 9, 3, 0, tzinfo=UTC))


@pytest.fixture
def upstream(deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    """The fake upstream, the function's environment naming it, the ingest run on each upload at once (as the
    S3 notification would have it run), and quick retries."""
    with serving() as running:
        for name, value in fns.MirrorSettings(running.base, jobs=2, rate=50).environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(engine, "ImportSink", functools.partial(engine.ImportSink, wait=deliver(deployment)))
        monkeypatch.setattr(handler, "Upstream", lambda base, rate: Upstream(
            base, rate=rate, timeout=5, retry=RetryPolicy(Backoff(2, 0.01, 0.02))))
        yield running


def _put(deployment, key: str, text: str) -> None:
    boto3.client("s3").put_object(Bucket=deployment.env["PACKAGES_BUCKET"], Key=key, Body=text.encode())


def _package(name: str, version: str = "1.0.0", **overrides: Any) -> bytes:
    return vsix_factory.vsix_bytes(publisher="acme", name=name, version=version,
                                   package_json_overrides=overrides or None)


def _logged(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    """The log records with ``message``, with their structured fields."""
    return [{**vars(record), "level": record.levelname} for record in caplog.records
            if record.getMessage() == message]


class _Clock(LocalContext):
    """A context whose remaining time is given by the test: ``remaining`` milliseconds for each call in turn."""

    def __init__(self, *remaining: int) -> None:
        super().__init__(function_name="mirror", memory_limit_in_mb=1024, timeout_seconds=900)
        self.remaining = list(remaining)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def _clock(*remaining: int) -> Any:  # a LambdaContext look-alike
    return _Clock(*remaining)


def test_a_scheduled_run_mirrors_the_allow_list_through_the_ingest_and_logs_a_summary(deployment, upstream, caplog):
    upstream.add(_package("app", extensionDependencies=["acme.lib"]))
    upstream.add(_package("lib"))
    upstream.add(_package("other"))
    _put(deployment, fns.MIRROR_ALLOW_KEY, "# what we use\nacme.app\n")
    result = handler.lambda_handler(EVENT, context("mirror"))
    assert {k: result[k] for k in ("status", "published", "present", "rejected", "failed", "left", "added")} == {
        "status": "done", "published": 2, "present": 0, "rejected": 0, "failed": 0, "left": 0, "added": 1}
    for name in ("app", "lib"):
        version = catalog.get_version(f"acme.{name}", "1.0.0", "universal")
        assert version is not None and version.published_by == "operator"
    assert catalog.get_version("acme.other", "1.0.0", "universal") is None
    namespace = store.get_namespace("acme")
    assert namespace is not None and namespace.mirrored_from == upstream.base
    [summary] = _logged(caplog, "mirror run")
    assert (summary["published"], summary["bytes"], summary["upstream"]) == (
        2, sum(len(p.data) for p in upstream.packages[:2]), upstream.base)
    assert summary["name"] == "mirror" and summary["rejectedVersions"] == [] and summary["leftVersions"] == []

    upstream.log.clear()  # the next run finds everything present and downloads nothing
    again = handler.lambda_handler(EVENT, context("mirror"))
    assert (again["published"], again["present"]) == (0, 2) and upstream.requests_to("/files/") == []


def test_a_rejected_version_is_reported_with_its_reason_and_the_run_goes_on(deployment, upstream, caplog):
    bad = upstream.add(_package("bad"))
    upstream.add(_package("good"))
    upstream.swapped[upstream.download_path(bad)] = _package("bad", readme="# tampered")
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.bad\nacme.good\n")
    result = handler.lambda_handler(EVENT, context("mirror"))
    assert (result["status"], result["published"], result["rejected"]) == ("done", 1, 1)
    [summary] = _logged(caplog, "mirror run")
    [rejected] = summary["rejectedVersions"]
    assert rejected["extension"] == "acme.bad" and "SHA-256 mismatch" in rejected["reason"]
    assert catalog.get_version("acme.bad", "1.0.0", "universal") is None


def test_the_deny_list_in_the_bucket_wins(deployment, upstream):
    upstream.add(_package("app", extensionDependencies=["acme.lib"]))
    upstream.add(_package("lib"))
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.app\n")
    _put(deployment, fns.MIRROR_DENY_KEY, "acme.lib\n")
    result = handler.lambda_handler(EVENT, context("mirror"))
    assert (result["published"], result["missing"]) == (1, 1)
    assert catalog.get_version("acme.lib", "1.0.0", "universal") is None


@pytest.mark.parametrize("event", [
    {},
    sqs_event({"Records": []}),
    {**EVENT, "source": "aws.s3"},
    {**EVENT, "detail-type": "Object Created"},
    {**EVENT, "resources": []},
    {**EVENT, "resources": ["arn:aws:sqs:us-east-1:123456789012:q"]},
    {**EVENT, "version": "1"},
], ids=["empty", "sqs", "other-source", "other-detail-type", "no-rule", "not-a-rule", "other-version"])
def test_other_events_are_refused_with_a_log_line_and_no_work(deployment, upstream, caplog, event):
    upstream.add(_package("app"))
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.app\n")
    result = handler.lambda_handler(event, context("mirror"))
    assert result == {"status": "refused", "reason": "not an EventBridge scheduled event"}
    assert upstream.log == []
    assert _logged(caplog, "not a scheduled event: refused, nothing done")


def test_the_local_schedulers_event_is_what_eventbridge_sends() -> None:
    assert handler.is_scheduled_event(EVENT)
    expected = {"version": "0", "id": EVENT["id"], "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "000000000000", "time": "2026-03-09T03:00:00Z", "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:000000000000:rule/marketplace-test-mirror"], "detail": {}}
    assert expected == EVENT


def test_without_an_allow_list_nothing_is_mirrored_and_the_log_says_why(deployment, upstream, caplog):
    upstream.add(_package("app"))
    _put(deployment, fns.MIRROR_DENY_KEY, "acme.other\n")  # a deny-list alone is no allow-list
    result = handler.lambda_handler(EVENT, context("mirror"))
    assert result["status"] == "skipped" and result["reason"] == "no allow-list"
    assert upstream.log == []  # not even the upstream's search: a whole registry is never mirrored by accident
    [warning] = _logged(caplog, "no allow-list: nothing mirrored")
    assert warning["level"] == "WARNING" and warning["allowList"].endswith("/private/mirror/allow.txt")
    assert "marketplace mirror configure" in warning["fix"]


def test_an_allow_list_that_lists_nothing_mirrors_nothing(deployment, upstream):
    upstream.add(_package("app"))
    _put(deployment, fns.MIRROR_ALLOW_KEY, "# nothing yet\n")
    assert handler.lambda_handler(EVENT, context("mirror"))["reason"] == "empty allow-list"
    assert upstream.log == []


def test_a_broken_allow_list_fails_the_run(deployment, upstream):
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.app latest=some\n")
    with pytest.raises(Exception, match=r"allow\.txt:1: latest='some'"):
        handler.lambda_handler(EVENT, context("mirror"))


def test_a_run_that_fails_as_a_whole_raises_for_the_retries_and_the_dead_letter_queue(deployment, upstream):
    upstream.add(_package("app"))
    upstream.add(_package("lib"))
    upstream.always["/api/acme/app"] = Fault(503)
    upstream.always["/api/acme/lib"] = Fault(503)
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.app\nacme.lib\n")
    with pytest.raises(handler.MirrorRunFailed, match=r"every version and extension asked of .* failed"):
        handler.lambda_handler(EVENT, context("mirror"))


def test_one_extension_failing_upstream_does_not_fail_the_run(deployment, upstream):
    upstream.add(_package("app"))
    upstream.add(_package("lib"))
    upstream.always["/api/acme/lib"] = Fault(503)
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.app\nacme.lib\n")
    result = handler.lambda_handler(EVENT, context("mirror"))
    assert (result["status"], result["published"], result["missing"]) == ("done", 1, 1)


def test_no_download_starts_when_the_time_is_short_and_the_next_run_takes_the_rest(deployment, upstream, caplog):
    for name in ("one", "two", "three"):
        upstream.add(_package(name))
    _put(deployment, fns.MIRROR_ALLOW_KEY, "acme.one\nacme.two\nacme.three\n")
    result = handler.lambda_handler(EVENT, _clock(handler.STOP_MARGIN_MS - 1))
    assert (result["status"], result["published"], result["left"]) == ("done", 0, 3)
    assert upstream.requests_to("/files/") == []  # metadata was read (the plan), nothing downloaded
    output = caplog
    [left] = _logged(output, "the run's time is up: the rest is left for the next run")
    assert {v["extension"] for v in left["leftVersions"]} == {"acme.one", "acme.two", "acme.three"}

    # a batch (the function's jobs: 2) starts while the time lasts; then the rest is left
    partial = handler.lambda_handler(EVENT, _clock(600_000, handler.STOP_MARGIN_MS - 1))
    assert (partial["published"], partial["left"]) == (2, 1)
    rest = handler.lambda_handler(EVENT, context("mirror"))
    assert (rest["published"], rest["present"], rest["left"]) == (1, 2, 0)
    assert all(catalog.get_version(f"acme.{n}", "1.0.0", "universal") for n in ("one", "two", "three"))


# --------------------------------------------------------------------------------------- the local scheduler


def _scheduler(deployment, tmp_path, handler_fn, *, interval: float = 0.05, deny: bool = False):
    import threading

    from marketplace.local.invoker import Invoker
    from marketplace.local.scheduler import MirrorOptions, Scheduler

    allow, deny_file = tmp_path / "allow.txt", tmp_path / "deny.txt"
    allow.write_text("acme.app\n")
    deny_file.write_text("acme.lib\n")
    options = MirrorOptions(fns.MirrorSettings("http://127.0.0.1:9"), allow, deny_file if deny else None, interval)
    source = fns.MIRROR.source
    assert isinstance(source, fns.ScheduleSource)
    stop = threading.Event()
    scheduler = Scheduler(fns.MIRROR, source, Invoker({"mirror": handler_fn}), stop, interval=interval,
                          rule=rule_arn(fns.MIRROR, "test"),
                          dead_letter_url=deployment.queue_urls[r.MIRROR_DLQ.id], prepare=options.copy_lists,
                          retry_delay=0.01)
    return scheduler, stop, allow


def _object(deployment, key: str) -> bytes | None:
    try:
        return bytes(boto3.client("s3").get_object(Bucket=deployment.env["PACKAGES_BUCKET"], Key=key)["Body"].read())
    except Exception:
        return None


def test_the_scheduler_runs_at_start_and_on_its_interval_with_the_lists_copied_first(deployment, tmp_path):
    from tests.e2e.conftest import wait_until

    seen: list[tuple[dict, bytes | None]] = []

    def run(event: dict, _context: Any) -> dict:
        seen.append((event, _object(deployment, fns.MIRROR_ALLOW_KEY)))
        return {"status": "done"}

    scheduler, stop, allow = _scheduler(deployment, tmp_path, run, deny=True)
    scheduler.start()
    try:
        wait_until(lambda: len(seen) >= 1, timeout=10)
        allow.write_text("acme.app\nacme.other\n")  # read again before every run
        wait_until(lambda: seen[-1][1] == b"acme.app\nacme.other\n", timeout=10)
    finally:
        stop.set()
        scheduler.join(timeout=5)
    assert not scheduler.is_alive()
    assert all(handler.is_scheduled_event(event) for event, _ in seen)
    assert len({event["id"] for event, _ in seen}) == len(seen)  # one event per run, as EventBridge sends
    assert _object(deployment, fns.MIRROR_DENY_KEY) == b"acme.lib\n"
    assert scheduler.runs == len(seen) and scheduler.failures == 0 and scheduler.last_result == {"status": "done"}


def test_a_failing_run_is_retried_then_dead_lettered_as_lambda_does(deployment, tmp_path):
    calls: list[dict] = []

    def fail(event: dict, _context: Any) -> dict:
        calls.append(event)
        raise RuntimeError("the upstream is down")

    scheduler, _, _ = _scheduler(deployment, tmp_path, fail)
    assert scheduler.poll_once() is False
    assert len(calls) == 1 + scheduler.source.max_retry_attempts == 3
    assert all(event is calls[0] for event in calls)  # the same event, retried
    assert scheduler.failures == 1 and scheduler.last_error == "RuntimeError: the upstream is down"
    [message] = boto3.client("sqs").receive_message(QueueUrl=deployment.queue_urls[r.MIRROR_DLQ.id],
                                                     MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestPayload"] == calls[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:mirror:$LATEST")
    assert record["responsePayload"] == {"errorMessage": "the upstream is down", "errorType": "RuntimeError"}


def test_lists_that_cannot_be_read_skip_the_run(deployment, tmp_path):
    calls: list[dict] = []
    scheduler, _, allow = _scheduler(deployment, tmp_path, lambda event, _context: calls.append(event))
    allow.unlink()
    with pytest.raises(FileNotFoundError):
        scheduler.poll_once()  # the poller's loop records it as its last error and waits for the next run
    assert calls == [] and scheduler.runs == 0
