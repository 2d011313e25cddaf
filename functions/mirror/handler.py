"""Lambda entry point: the scheduled mirror. EventBridge invokes it on the operator's schedule (CDK context
``mirror``; locally ``marketplace serve --mirror-upstream``) with a scheduled event; anything else is refused
with a log line and no work.

A run reads the allow-list and deny-list from the packages bucket (``marketplace mirror configure`` puts them
there; without an allow-list nothing is mirrored: a whole public registry is never mirrored by accident), plans
against the upstream, and fetches what is not here yet through the default sink, the importer, so every package
goes through the normal ingest. It is bounded by the function's timeout: no new download starts once less than
``STOP_MARGIN_MS`` remain, and what is left is reported for the next run (the engine skips what is present, so
runs resume). The summary is one structured log line and metrics.

A run that fails as a whole raises, so Lambda retries it and the event then lands in the dead-letter queue: lists
that cannot be read, an upstream that failed for everything asked of it, storage failing for every version.
One version the ingest or the checks reject does not.
"""

from __future__ import annotations

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.mirror import engine, lists
from marketplace.mirror.upstream import Upstream
from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.functions import MIRROR_ALLOW_KEY, MIRROR_DENY_KEY, MirrorSettings
from marketplace.platform.observability import observability
from marketplace.platform.resources import PACKAGES_BUCKET

observed = observability("mirror")
logger, metrics = observed.logger, observed.metrics

STOP_MARGIN_MS = 120_000  # no download starts with less than this left of the function's time
MAX_LOGGED = 200  # rejected, failed and left versions named in the summary log line at most
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


class MirrorRunFailed(RuntimeError):
    """The run as a whole failed: Lambda retries it, then the event goes to the dead-letter queue."""


def is_scheduled_event(event: object) -> bool:
    """The event EventBridge sends a scheduled rule's target (``version`` 0, ``detail-type`` Scheduled Event,
    ``source`` aws.events, the rule's ARN in ``resources``)."""
    if not isinstance(event, Mapping):
        return False
    resources = event.get("resources")
    return (event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events"
            and event.get("version") == "0" and isinstance(resources, list)
            and all(isinstance(arn, str) and ":rule/" in arn for arn in resources) and bool(resources))


def _read_list(key: str) -> str | None:
    """A list's text from the packages bucket; ``None`` when it is not there. Without ``s3:ListBucket`` (the
    function has none) S3 answers a missing object with ``AccessDenied``, so that counts as absent too, and the
    log line says which answer it was."""
    try:
        body = aws.client("s3").get_object(Bucket=location(PACKAGES_BUCKET), Key=key)["Body"]
    except Exception as error:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        if code in _ABSENT:
            logger.info("list not found", extra={"key": key, "answer": code})
            return None
        raise
    try:
        data = body.read(lists.MAX_LIST_BYTES + 1)
    finally:
        body.close()
    if len(data) > lists.MAX_LIST_BYTES:
        raise MirrorRunFailed(f"s3://.../{key} is larger than {lists.MAX_LIST_BYTES} bytes")
    return bytes(data).decode("utf-8-sig")


def _source(key: str) -> str:
    return f"s3://{location(PACKAGES_BUCKET)}/{key}"


@dataclasses.dataclass
class Budget:
    """The function's time: no new download once less than ``margin_ms`` remain."""

    remaining_ms: Callable[[], int]
    margin_ms: int = STOP_MARGIN_MS

    @property
    def exhausted(self) -> bool:
        return self.remaining_ms() < self.margin_ms


@dataclasses.dataclass
class Outcome:
    """A run's report and what it left for the next run."""

    report: engine.Report
    left: list[engine.Build]


def mirror(plan: engine.Plan, sink: engine.ImportSink, *, jobs: int, budget: Budget) -> Outcome:
    """``engine.run`` within the budget: what is present is skipped, the rest is fetched ``jobs`` at a time, and
    no new batch starts once the budget is spent (a batch under way finishes)."""
    lines: list[engine.Line] = []
    todo: list[engine.Build] = []
    for build in plan.builds:
        if sink.is_present(build):
            lines.append(engine.Line(build.extension_id, build.version, build.target_platform, "present",
                                     "already here: not downloaded", added_for=build.added_for))
        else:
            todo.append(build)
    transferred, requests, seconds = 0, plan.requests, 0.0
    left: list[engine.Build] = []
    for start in range(0, len(todo), jobs):
        if budget.exhausted:
            left = todo[start:]
            break
        batch = dataclasses.replace(plan, builds=todo[start:start + jobs], requests=0)
        report = engine.run(batch, sink, jobs=jobs, present=lambda _build: False)
        lines += report.lines
        transferred += report.bytes_transferred
        requests += report.requests
        seconds += report.seconds
    order = {(b.extension_id, b.version, b.target_platform): i for i, b in enumerate(plan.builds)}
    lines.sort(key=lambda line: order.get((line.extension_id, line.version, line.target_platform), 0))
    return Outcome(engine.Report(plan.upstream, lines, dict(plan.added), list(plan.denied), list(plan.missing),
                                 False, transferred, requests, seconds), left)


def failed_as_a_whole(outcome: Outcome) -> str | None:
    """Why the run failed as a whole, or ``None``: it had something to do and every piece of it failed (the
    upstream, or the storage), nothing published, present or judged by the ingest."""
    report = outcome.report
    failed_lines = [line for line in report.lines if line.status == "failed"]
    failed_missing = [m for m in report.missing if m.failed]
    succeeded = [line for line in report.lines if line.status != "failed"]
    if (failed_lines or failed_missing) and not succeeded and not outcome.left:
        first = failed_lines[0].reason if failed_lines else failed_missing[0].reason
        return (f"every version and extension asked of {report.upstream} failed "
                f"({len(failed_lines)} versions, {len(failed_missing)} extensions); the first: {first}")
    return None


def _named(lines: list[engine.Line], status: str) -> list[dict[str, Any]]:
    return [{"extension": line.extension_id, "version": line.version, "targetPlatform": line.target_platform,
             "reason": line.reason} for line in lines if line.status == status][:MAX_LOGGED]


def summary(outcome: Outcome) -> dict[str, Any]:
    report = outcome.report
    totals = report.totals
    return {
        "upstream": report.upstream,
        "published": totals["published"],
        "present": totals["present"],
        "rejected": totals["rejected"],
        "failed": totals["failed"],
        "left": len(outcome.left),
        "unsigned": totals["unsigned"],
        "missing": totals["missing"],
        "denied": totals["denied"],
        "added": len(report.added),
        "bytes": report.bytes_transferred,
        "requests": report.requests,
        "seconds": round(report.seconds, 3),
        "rejectedVersions": _named(report.lines, "rejected"),
        "failedVersions": _named(report.lines, "failed"),
        "missingExtensions": [dataclasses.asdict(m) for m in report.missing][:MAX_LOGGED],
        "leftVersions": [{"extension": b.extension_id, "version": b.version, "targetPlatform": b.target_platform}
                         for b in outcome.left][:MAX_LOGGED],
    }


def _count(summary: Mapping[str, Any]) -> None:
    for name, key in (("MirrorPublished", "published"), ("MirrorPresent", "present"),
                      ("MirrorRejected", "rejected"), ("MirrorFailed", "failed"), ("MirrorLeft", "left"),
                      ("MirrorMissing", "missing")):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[key])
    metrics.add_metric(name="MirrorBytes", unit=MetricUnit.Bytes, value=summary["bytes"])


def run_mirror(budget: Budget, environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One scheduled run (see the module's docstring); the summary, or ``MirrorRunFailed``."""
    settings = MirrorSettings.from_environment(os.environ if environment is None else environment)
    allow_text = _read_list(MIRROR_ALLOW_KEY)
    if allow_text is None:
        logger.warning("no allow-list: nothing mirrored", extra={
            "allowList": _source(MIRROR_ALLOW_KEY), "upstream": settings.upstream,
            "fix": "upload one with: marketplace mirror configure --allow FILE --stage STAGE"})
        metrics.add_metric(name="MirrorSkipped", unit=MetricUnit.Count, value=1)
        return {"status": "skipped", "reason": "no allow-list", "allowList": _source(MIRROR_ALLOW_KEY)}
    allow = lists.parse_allow(allow_text, _source(MIRROR_ALLOW_KEY))
    deny_text = _read_list(MIRROR_DENY_KEY)
    deny = lists.parse_deny(deny_text, _source(MIRROR_DENY_KEY)) if deny_text is not None else lists.DenyList()
    if not allow.entries:
        logger.warning("the allow-list lists nothing: nothing mirrored", extra={"allowList": _source(MIRROR_ALLOW_KEY)})
        return {"status": "skipped", "reason": "empty allow-list", "allowList": _source(MIRROR_ALLOW_KEY)}
    upstream = Upstream(settings.upstream, rate=settings.rate)
    plan = engine.plan(upstream, allow, deny, jobs=settings.jobs)
    logger.info("mirror plan", extra={"summary": plan.summary(), "versions": len(plan.builds)})
    outcome = mirror(plan, engine.ImportSink(upstream.base_url), jobs=settings.jobs, budget=budget)
    result = summary(outcome)
    _count(result)
    logger.info("mirror run", extra=result)
    if outcome.left:
        logger.warning("the run's time is up: the rest is left for the next run",
                       extra={"left": len(outcome.left), "leftVersions": result["leftVersions"]})
    failure = failed_as_a_whole(outcome)
    if failure is not None:
        raise MirrorRunFailed(failure)
    return {"status": "done", **{k: v for k, v in result.items() if not isinstance(v, list)}}


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not is_scheduled_event(event):
        shape = event if not isinstance(event, Mapping) else {
            key: event.get(key) for key in ("source", "detail-type", "version")}
        logger.error("not a scheduled event: refused, nothing done", extra={"event": str(shape)[:500]})
        return {"status": "refused", "reason": "not an EventBridge scheduled event"}
    logger.info("scheduled run", extra={"rule": event["resources"][0], "time": event.get("time"),
                                        "id": event.get("id")})
    return run_mirror(Budget(context.get_remaining_time_in_millis))

coldstart.loaded()
