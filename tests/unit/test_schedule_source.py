"""Schedules (``functions.ScheduleSource``): the expressions EventBridge accepts are accepted, the others refused
when the definition is made (so at synth), and the mirror's settings are checked the same way wherever they come
from (the CDK context, ``marketplace serve``, the function's environment)."""

from __future__ import annotations

import pytest

from marketplace.platform import functions as fns
from marketplace.platform import resources as r

ACCEPTED = [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(6 hours)", "rate(1 day)", "rate(7 days)",
    "cron(0 3 * * ? *)",                # every day at 03:00 UTC
    "cron(15 10 ? * 6L 2022-2030)",     # the last Friday of every month
    "cron(0/15 * * * ? *)",             # every 15 minutes
    "cron(0 18 ? * MON-FRI *)",         # weekdays
    "cron(0 8 1 * ? *)",                # the first day of every month
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",              # the first Monday of every month
    "cron(0 0 L * ? *)",                # the last day of the month
    "cron(0 0 15W * ? *)",              # the weekday nearest the 15th
    "cron(0,30 */2 ? JAN,JUL SUN *)",
]
REFUSED = {
    "rate(1 hours)": "singular unit for 1",
    "rate(5 hour)": "plural one above",
    "rate(0 minutes)": "whole N of at least 1",
    "rate(1.5 hours)": "whole N of at least 1",
    "rate(-1 minutes)": "whole N of at least 1",
    "rate(6 weeks)": "rate EventBridge accepts",
    "rate(6  hours)": "rate EventBridge accepts",
    "every 6 hours": "neither rate",
    "RATE(6 hours)": "neither rate",
    "": "neither rate",
    "cron(0 3 * * *)": "six fields",
    "cron(0 3 * * ? * *)": "six fields",
    "cron(0 3 * * * *)": "exactly one of day-of-month and day-of-week",
    "cron(0 3 ? * ? *)": "exactly one of day-of-month and day-of-week",
    "cron(60 * * * ? *)": "'60' is out of range for minutes",
    "cron(0 24 * * ? *)": "'24' is out of range for hours",
    "cron(0 3 32 * ? *)": "'32' is out of range for day-of-month",
    "cron(0 3 * 13 ? *)": "'13' is out of range for month",
    "cron(0 3 ? * 8 *)": "'8' is out of range for day-of-week",
    "cron(0 3 ? * FOO *)": "'FOO' is out of range for day-of-week",
    "cron(0 3 * * ? 1969)": "'1969' is out of range for year",
    "cron(*/0 * * * ? *)": "step '0'",
    "cron(? 3 * * ? *)": "'?' only goes in day-of-month or day-of-week",
    "cron(0 3 * * ? x!)": "not a year value, range or step",
}


@pytest.mark.parametrize("expression", ACCEPTED)
def test_expressions_eventbridge_accepts_are_accepted(expression: str) -> None:
    fns.validate_schedule(expression)
    assert fns.ScheduleSource(expression, r.MIRROR_DLQ.id).expression == expression


@pytest.mark.parametrize(("expression", "why"), REFUSED.items())
def test_expressions_eventbridge_refuses_are_refused_when_the_definition_is_made(expression: str, why: str) -> None:
    with pytest.raises(ValueError, match="schedule") as refused:
        fns.ScheduleSource(expression, r.MIRROR_DLQ.id)
    assert why in str(refused.value)


def test_a_rate_has_an_interval_and_a_cron_expression_none() -> None:
    assert fns.rate_seconds("rate(1 minute)") == 60
    assert fns.rate_seconds("rate(6 hours)") == 6 * 3600
    assert fns.rate_seconds("rate(2 days)") == 2 * 86400
    assert fns.ScheduleSource("cron(0 3 * * ? *)", r.MIRROR_DLQ.id).interval_seconds is None


def test_retries_and_event_age_are_what_lambda_allows_for_an_asynchronous_invocation() -> None:
    for attempts in (0, 1, 2):
        fns.ScheduleSource("rate(1 hour)", r.MIRROR_DLQ.id, max_retry_attempts=attempts)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        fns.ScheduleSource("rate(1 hour)", r.MIRROR_DLQ.id, max_retry_attempts=3)
    for age in (59, 21601):
        with pytest.raises(ValueError, match="60 to 21600"):
            fns.ScheduleSource("rate(1 hour)", r.MIRROR_DLQ.id, max_event_age_seconds=age)


def test_the_mirror_function_is_optional_scheduled_and_alone() -> None:
    mirror = fns.MIRROR
    assert mirror in fns.FUNCTIONS and mirror.enabled_by == fns.MIRROR_CONTEXT
    assert isinstance(mirror.source, fns.ScheduleSource)
    assert mirror.source.expression == fns.DEFAULT_MIRROR_SCHEDULE == "rate(6 hours)"
    assert mirror.source.dead_letter_queue == r.MIRROR_DLQ.id and r.MIRROR_DLQ in r.QUEUES
    assert (mirror.memory_mb, mirror.timeout_seconds, mirror.reserved_concurrency) == (1024, 900, 1)
    assert not mirror.routes
    assert fns.MIRROR not in fns.deployed() and fns.MIRROR in fns.deployed({fns.MIRROR_CONTEXT})
    assert fns.deployed() == tuple(f for f in fns.FUNCTIONS if f is not fns.MIRROR)
    assert mirror.rule_name("prod") == "marketplace-prod-mirror"


def test_the_mirror_is_granted_exactly_what_it_uses() -> None:
    bucket = r.PACKAGES_BUCKET
    assert set(fns.MIRROR.grants) == {
        fns.TableGrant(r.PUBLISHING_TABLE.id, "read_write"),
        fns.TableGrant(r.EXTENSIONS_TABLE.id, "read"),
        fns.ObjectGrant(bucket.id, bucket.upload_prefix, ("s3:PutObject",)),
        fns.ObjectGrant(bucket.id, bucket.mirror_prefix, ("s3:GetObject",)),
    }
    assert bucket.mirror_prefix.startswith(bucket.private_prefix)
    assert fns.MIRROR_ALLOW_KEY == "private/mirror/allow.txt" and fns.MIRROR_DENY_KEY == "private/mirror/deny.txt"


def test_mirror_settings_from_the_context_and_into_the_environment_and_back() -> None:
    settings = fns.MirrorSettings.from_mapping(
        {"upstream": "https://open-vsx.org/", "schedule": "rate(12 hours)", "jobs": 8, "rate": 1.5})
    assert settings == fns.MirrorSettings("https://open-vsx.org", "rate(12 hours)", 8, 1.5)
    environment = settings.environment()
    assert environment == {"MIRROR_UPSTREAM": "https://open-vsx.org", "MIRROR_JOBS": "8", "MIRROR_RATE": "1.5"}
    back = fns.MirrorSettings.from_environment(environment)
    assert (back.upstream, back.jobs, back.rate) == ("https://open-vsx.org", 8, 1.5)
    defaults = fns.MirrorSettings.from_mapping({"upstream": "http://127.0.0.1:8080/registry"})
    assert (defaults.schedule, defaults.jobs, defaults.rate) == ("rate(6 hours)", 4, 2.0)
    assert defaults.upstream == "http://127.0.0.1:8080/registry"


@pytest.mark.parametrize(("value", "why"), [
    ({}, "'upstream' is required"),
    ({"upstream": "https://open-vsx.org", "extra": 1}, "unknown keys ['extra']"),
    ({"upstream": "ftp://open-vsx.org"}, "http(s) URL"),
    ({"upstream": "open-vsx.org"}, "http(s) URL"),
    ({"upstream": "https://user:secret@open-vsx.org"}, "no credentials"),
    ({"upstream": "https://open-vsx.org/?q=1"}, "no credentials, query or fragment"),
    ({"upstream": 42}, "the upstream registry's URL"),
    ({"upstream": "https://open-vsx.org", "schedule": "rate(1 hours)"}, "singular unit"),
    ({"upstream": "https://open-vsx.org", "jobs": 0}, "'jobs' must be a whole number from 1 to 16"),
    ({"upstream": "https://open-vsx.org", "jobs": 17}, "'jobs'"),
    ({"upstream": "https://open-vsx.org", "jobs": True}, "'jobs'"),
    ({"upstream": "https://open-vsx.org", "jobs": "4"}, "'jobs'"),
    ({"upstream": "https://open-vsx.org", "rate": 0}, "'rate' must be a number"),
    ({"upstream": "https://open-vsx.org", "rate": 51}, "'rate'"),
])
def test_bad_mirror_settings_are_refused_saying_why(value: dict, why: str) -> None:
    with pytest.raises(ValueError) as refused:
        fns.MirrorSettings.from_mapping(value)
    assert why in str(refused.value)


def test_the_environment_without_an_upstream_is_refused() -> None:
    with pytest.raises(ValueError, match="MIRROR_UPSTREAM is not set"):
        fns.MirrorSettings.from_environment({})
    with pytest.raises(ValueError, match="must be numbers"):
        fns.MirrorSettings.from_environment({"MIRROR_UPSTREAM": "https://x.example", "MIRROR_JOBS": "four"})
