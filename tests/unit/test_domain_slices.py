"""Pure logic of the event-driven functions: no AWS involved."""

import json
from datetime import UTC, datetime

import pytest

from marketplace.publishing.ingest import MalformedNotification, uploaded_objects
from marketplace.search.indexer import changed_extension
from marketplace.stats import events


def _s3_event(key: str, event_name: str = "ObjectCreated:Post") -> dict:
    return {"Records": [{"eventName": event_name, "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 7}}}]}


def test_uploaded_objects_reads_upload_ids():
    [obj] = uploaded_objects(_s3_event("uploads/0f1e-2d3c"), "uploads/")
    assert (obj.bucket, obj.key, obj.size, obj.upload_id) == ("b", "uploads/0f1e-2d3c", 7, "0f1e-2d3c")


def test_uploaded_objects_decodes_keys_and_flags_impossible_ids():
    [obj] = uploaded_objects(_s3_event("uploads/..%2Fassets%2Fx+y"), "uploads/")
    assert obj.key == "uploads/../assets/x y" and obj.upload_id is None


def test_uploaded_objects_ignores_test_events_other_prefixes_and_deletions():
    assert uploaded_objects({"Service": "Amazon S3", "Event": "s3:TestEvent"}, "uploads/") == []
    assert uploaded_objects(_s3_event("assets/x"), "uploads/") == []
    assert uploaded_objects(_s3_event("uploads/x", "ObjectRemoved:Delete"), "uploads/") == []


@pytest.mark.parametrize("body", [{}, {"Records": "x"}, {"Records": [{"eventName": "ObjectCreated:Put"}]}])
def test_malformed_notifications_are_refused(body):
    with pytest.raises(MalformedNotification):
        uploaded_objects(body, "uploads/")


def _event(**overrides) -> bytes:
    event = {"type": "install", "extension": "pub.ext", "version": "1.0.0", "at": "2026-11-24T00:00:00Z"}
    event.update(overrides)
    return json.dumps(event).encode()


def test_stats_events_are_parsed_and_summed_per_extension():
    parsed = [events.parse(_event()), events.parse(_event(type="download")), events.parse(_event()),
              events.parse(_event(extension="other.ext"))]
    assert parsed[0] is not None and parsed[0].at == datetime(2026, 11, 24, tzinfo=UTC)
    totals = events.totals(e for e in parsed if e)
    assert totals == {"pub.ext": {"install": 2, "download": 1}, "other.ext": {"install": 1}}


def test_other_event_kinds_are_not_counted():
    assert events.parse(json.dumps({"type": "telemetry", "events": []}).encode()) is None


@pytest.mark.parametrize("data", [b"\xff", b"[1]", _event(extension="Bad Id"), _event(at="yesterday")])
def test_invalid_stats_events_are_refused(data):
    with pytest.raises(events.InvalidEvent):
        events.parse(data)


def test_search_changes_come_only_from_extension_items():
    assert changed_extension({"pk": "EXT#Pub.Ext", "sk": "EXTENSION"}) == "pub.ext"
    assert changed_extension({"pk": "EXT#pub.ext", "sk": "VERSION#1.0.0#universal"}) is None
    assert changed_extension({"pk": "UUID#0f1e", "sk": "EXTENSION"}) is None
    assert changed_extension({"pk": "CONTROL", "sk": "EXT#pub.ext"}) is None
    assert changed_extension({"pk": "EXT#", "sk": "EXTENSION"}) is None
    assert changed_extension(None) is None


@pytest.mark.parametrize(
    "overrides",
    [{"version": ""}, {"version": "x" * 65}, {"version": 1}, {"at": "2026-11-24T00:00:00"}, {"at": 5},
     {"client": ""}, {"target_platform": "x" * 33}, {"extension": "pub"}, {"extension": "PUB.ext"}],
)
def test_each_field_is_validated(overrides):
    with pytest.raises(events.InvalidEvent):
        events.parse(_event(**overrides))


def test_optional_fields_are_kept():
    parsed = events.parse(_event(target_platform="linux-x64", client="VSCode 1.100.3"))
    assert parsed is not None and (parsed.target_platform, parsed.client) == ("linux-x64", "VSCode 1.100.3")
