"""The data lake's definitions, and how the local Firehose evaluates their prefixes and names objects."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from marketplace.local.firehose import evaluate_prefix, object_key
from marketplace.platform import resources as r
from marketplace.platform.functions import FUNCTIONS, KeyGrant, ObjectGrant


def test_every_delivery_names_defined_resources_and_fits_firehose_limits():
    for delivery in r.DELIVERY_STREAMS:
        r.stream(delivery.source)
        lake = r.lake_bucket(delivery.bucket)
        r.key(lake.key)
        assert re.fullmatch(r"[a-zA-Z0-9_.-]{1,64}", delivery.physical_name("prod"))
        assert 60 <= delivery.buffer_seconds <= 900
        assert 1 <= delivery.buffer_mib <= 128
        assert delivery.compression == "GZIP"
        assert delivery.delimiter == "\n"  # objects of JSON records are JSON lines


def test_prefixes_partition_by_day_and_errors_say_why():
    assert r.EVENTS_TO_LAKE.prefix == "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    # Firehose requires an error prefix with the error-output-type once the prefix has expressions
    assert "!{firehose:error-output-type}" in r.EVENTS_TO_LAKE.error_prefix
    assert r.static_prefix(r.EVENTS_TO_LAKE.prefix) == "events/year="
    assert r.static_prefix(r.EVENTS_TO_LAKE.error_prefix) == "errors/"
    assert not r.static_prefix(r.EVENTS_TO_LAKE.prefix).startswith(r.static_prefix(r.EVENTS_TO_LAKE.error_prefix))


def test_the_lake_keeps_objects_18_months_under_its_own_key():
    assert r.LAKE_BUCKET.expiry_days == 548
    assert r.LAKE_BUCKET.abort_incomplete_upload_days == 1
    assert r.LAKE_BUCKET.key == r.LAKE_KEY.id
    # its own key: no table, queue, stream or packages bucket is encrypted with it ...
    others = [t.key for t in r.TABLES] + [q.key for q in r.QUEUES] + [s.key for s in r.STREAMS]
    assert r.LAKE_KEY.id not in others + [b.key for b in r.BUCKETS]
    # ... and no function may use it or the lake: only the delivery stream writes there
    for fn in FUNCTIONS:
        for grant in fn.grants:
            assert not (isinstance(grant, KeyGrant) and grant.key == r.LAKE_KEY.id), fn.name
            assert not (isinstance(grant, ObjectGrant) and grant.bucket == r.LAKE_BUCKET.id), fn.name
    assert r.LAKE_BUCKET.id not in {b.id for b in r.BUCKETS}


def test_the_prefix_is_the_utc_day_of_the_given_moment():
    moment = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
    assert evaluate_prefix(r.EVENTS_TO_LAKE.prefix, moment) == "events/year=2026/month=03/day=09/"
    # 00:30 in UTC+02:00 is still the previous day in UTC
    east = datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert evaluate_prefix(r.EVENTS_TO_LAKE.prefix, east) == "events/year=2026/month=12/day=31/"
    assert (evaluate_prefix(r.EVENTS_TO_LAKE.error_prefix, moment, error_output_type="processing-failed")
            == "errors/processing-failed/year=2026/month=03/day=09/")
    assert evaluate_prefix("x/!{timestamp:yyyy-MM-dd HH:mm:ss}/", moment) == "x/2026-03-09 23:59:59/"


@pytest.mark.parametrize("template", [
    "events/!{timestamp:EEE}/",          # a Java field the emulation does not know
    "events/!{timestamp:}/",
    "events/!{firehose:random-string}/",
    "events/!{partitionKeyFromQuery:id}/",
    "errors/!{firehose:error-output-type}/",  # without an error type to put there
])
def test_expressions_the_emulation_cannot_evaluate_are_refused(template: str):
    with pytest.raises(ValueError, match="cannot evaluate"):
        evaluate_prefix(template, datetime(2026, 1, 2, tzinfo=UTC))


def test_object_keys_follow_firehose_naming():
    moment = datetime(2026, 7, 4, 5, 6, 7, 890000, tzinfo=UTC)
    key = object_key(r.EVENTS_TO_LAKE, "dev", moment, unique="0f1e2d3c-aaaa-bbbb-cccc-111122223333")
    assert key == ("events/year=2026/month=07/day=04/"
                   "marketplace-dev-events-to-lake-1-2026-07-04-05-06-07-0f1e2d3c-aaaa-bbbb-cccc-111122223333.gz")
    first, second = object_key(r.EVENTS_TO_LAKE, "dev", moment), object_key(r.EVENTS_TO_LAKE, "dev", moment)
    assert first != second and first.endswith(".gz")
