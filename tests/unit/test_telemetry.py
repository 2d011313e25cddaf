"""Telemetry ingest's pure parts: validation rules, redaction, keyed hashing, packing, retries of refused records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace.platform import aws
from marketplace.platform.errors import BadRequest, PayloadTooLarge
from marketplace.telemetry import batch, events, packing, service, stream
from marketplace.telemetry.packing import Record
from marketplace.telemetry.scrub import Pseudonyms, redact
from tests.fakes.clock import Clock

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECRET = bytes(range(32))
MACHINE = "c0ffee" + "0" * 58
SESSION = "5e55a5c7-0000-4000-8000-000000000001" + "1795521600000"
USER = "github|123456"


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventName": "vscode/extension/activation",
        "timestamp": "2026-11-24T11:59:00.000Z",
        "machineId": MACHINE,
        "sessionId": SESSION,
        "userId": USER,
        "properties": {"extensionId": "pub.ext", "reason": "onStartupFinished"},
        "measurements": {"activationTime": 42.5},
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not _DROP}


_DROP = object()


def _scrub(raw: Any) -> dict[str, Any]:
    return events.scrubbed(raw, events.Window.around(NOW), Pseudonyms(SECRET))


def _reason(raw: Any) -> str:
    with pytest.raises(events.InvalidEvent) as caught:
        events.encoded(_scrub(raw))
    return str(caught.value)


# --- validation --------------------------------------------------------------------------------------------


def test_a_valid_event_is_scrubbed_into_the_stored_form():
    stored = _scrub(_event(extra="dropped", timestamp="2026-11-24T12:59:00.5+01:00"))
    hashing = Pseudonyms(SECRET)
    assert stored == {
        "eventName": "vscode/extension/activation",
        "timestamp": "2026-11-24T11:59:00.500Z",
        "machineId": hashing.id("m", MACHINE),
        "sessionId": hashing.id("s", SESSION),
        "userId": hashing.id("u", USER),
        "properties": {"extensionId": "pub.ext", "reason": "onStartupFinished"},
        "measurements": {"activationTime": 42.5},
    }
    assert list(stored) == ["eventName", "timestamp", "machineId", "sessionId", "userId", "properties",
                            "measurements"]


def test_optional_parts_may_be_absent_or_null():
    stored = _scrub(_event(userId=_DROP, properties=_DROP, measurements=None))
    assert "userId" not in stored and stored["properties"] == {} and stored["measurements"] == {}
    assert "userId" not in _scrub(_event(userId=None))


def test_numbers_and_booleans_in_properties_become_strings():
    stored = _scrub(_event(properties={"count": 3, "ratio": 0.5, "on": True, "off": False, "big": 10**400}))
    assert stored["properties"] == {"count": "3", "ratio": "0.5", "on": "true", "off": "false", "big": str(10**400)}


def test_limits_are_inclusive():
    properties = {f"p{i:063d}": "v" * events.MAX_VALUE_CHARS for i in range(events.MAX_PROPERTIES)}
    measurements = {f"m{i:063d}": -1.2345678901234567e-300 for i in range(events.MAX_MEASUREMENTS)}
    stored = _scrub(_event(eventName="a" * 128, machineId="m" * 256, sessionId="s", userId="u" * 256,
                           properties=properties, measurements=measurements,
                           timestamp=(NOW - events.MAX_AGE).isoformat()))
    assert len(stored["properties"]) == 64 and len(stored["measurements"]) == 64
    assert len(events.encoded(stored)) <= events.MAX_EVENT_BYTES  # every limit at its maximum still fits
    assert _scrub(_event(timestamp=(NOW + events.MAX_SKEW).isoformat()))["timestamp"] == "2026-11-24T12:05:00.000Z"
    assert _scrub(_event(eventName="extensionGallery:install"))["eventName"] == "extensionGallery:install"
    assert _scrub(_event(measurements={"big": 2**53, "small": -(2**53)}))["measurements"]["big"] == 2**53


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"eventName": _DROP}, "eventName"),
        ({"eventName": 7}, "eventName"),
        ({"eventName": ""}, "eventName"),
        ({"eventName": "a" * 129}, "eventName"),
        ({"eventName": "has space"}, "eventName"),
        ({"eventName": "/leading/slash"}, "eventName"),
        ({"eventName": "user@example.com"}, "eventName"),
        ({"eventName": "ghp_0123456789abcdefghijABCDEFGHIJ0123"}, "eventName"),
        ({"timestamp": _DROP}, "timestamp"),
        ({"timestamp": 1795521600000}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-11-24T11:59:00"}, "timestamp"),
        ({"timestamp": "2026-11-24"}, "timestamp"),
        ({"timestamp": (NOW - events.MAX_AGE - timedelta(seconds=1)).isoformat()}, "timestamp"),
        ({"timestamp": (NOW + events.MAX_SKEW + timedelta(seconds=1)).isoformat()}, "timestamp"),
        ({"machineId": _DROP}, "machineId"),
        ({"machineId": ""}, "machineId"),
        ({"machineId": "m" * 257}, "machineId"),
        ({"machineId": 12}, "machineId"),
        ({"sessionId": _DROP}, "sessionId"),
        ({"sessionId": ["x"]}, "sessionId"),
        ({"userId": ""}, "userId"),
        ({"userId": 5}, "userId"),
        ({"properties": ["a"]}, "properties"),
        ({"properties": {f"p{i}": "v" for i in range(65)}}, "properties"),
        ({"properties": {"": "v"}}, "properties"),
        ({"properties": {"k" * 65: "v"}}, "properties"),
        ({"properties": {"bad key": "v"}}, "properties"),
        ({"properties": {"/home/alice": "v"}}, "properties"),
        ({"properties": {"0123456789abcdef0123456789abcdef": "v"}}, "properties"),
        ({"properties": {"k": "v" * 1025}}, "properties"),
        ({"properties": {"k": None}}, "properties"),
        ({"properties": {"k": {"nested": "x"}}}, "properties"),
        ({"properties": {"k": float("nan")}}, "properties"),
        ({"properties": {"k": 10**1100}}, "properties"),
        ({"measurements": [1]}, "measurements"),
        ({"measurements": {f"m{i}": 1 for i in range(65)}}, "measurements"),
        ({"measurements": {"m": "12"}}, "measurements"),
        ({"measurements": {"m": True}}, "measurements"),
        ({"measurements": {"m": None}}, "measurements"),
        ({"measurements": {"m": float("inf")}}, "measurements"),
        ({"measurements": {"m": float("nan")}}, "measurements"),
        ({"measurements": {"m": 2**53 + 1}}, "measurements"),
        ({"measurements": {"bad key": 1}}, "measurements"),
    ],
)
def test_each_rule_rejects_the_event_naming_the_field(overrides, field):
    assert _reason(_event(**overrides)).startswith(field)


def test_an_event_that_is_not_an_object_is_rejected():
    for raw in (None, "event", 5, ["x"]):
        assert _reason(raw) == "the event is not a JSON object"


def test_an_event_too_large_once_encoded_is_rejected():
    # control characters take 6 bytes each once escaped: 64 values of 1,024 of them are ~390 KB
    huge = {f"p{i}": "\x01" * events.MAX_VALUE_CHARS for i in range(events.MAX_PROPERTIES)}
    assert "larger than" in _reason(_event(properties=huge))


def test_reasons_never_repeat_the_rejected_values():
    secret_name = "ghp_0123456789abcdefghijABCDEFGHIJ0123"
    assert secret_name not in _reason(_event(eventName=secret_name))
    assert "/home/alice" not in _reason(_event(properties={"/home/alice": "v"}))
    assert "alice@example.com" not in _reason(_event(machineId="alice@example.com" * 20))


# --- redaction ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/home/alice/project/main.py", "<redacted:path>"),
        ("/Users/alice/Library", "<redacted:path>"),
        ("ENOENT: no such file, open '/home/alice/x.json' at startup", "ENOENT: no such file, open '<redacted:path>"),
        ("at f (/home/a/x.js:1:2)\n    at g (/home/a/y.js:3:4)", "at f (<redacted:path>"),
        ("~/projects/secret-plan", "<redacted:path>"),
        ("~alice/notes", "<redacted:path>"),
        ("C:\\Users\\Alice Smith\\Documents\\plan.docx", "<redacted:path>"),
        ("c:/users/bob/x", "<redacted:path>"),
        ("open C:\\Users\\bob failed", "open <redacted:path>"),
        ("\\\\fileserver\\share\\alice", "<redacted:path>"),
        ("file:///home/alice/x", "<redacted:path>"),
        ("see file:///C:/Users/x", "see <redacted:path>"),
        ("vscode-remote://ssh-remote+box/home/alice/x", "<redacted:path>"),
        ("../../home/alice/x", "../..<redacted:path>"),
        ("..\\Users\\bob\\notes", "..<redacted:path>"),
    ],
)
def test_paths_are_redacted_to_the_end_of_the_value(value, expected):
    assert redact(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.com", "<redacted:email>"),
        ("contact alice.smith+tag@mail.example.co.uk now", "contact <redacted:email> now"),
        ("a@b.io and c@d.io", "<redacted:email> and <redacted:email>"),
    ],
)
def test_email_addresses_are_redacted(value, expected):
    assert redact(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.5", "<redacted:address>"),
        ("connect ECONNREFUSED 192.168.1.20:443", "connect ECONNREFUSED <redacted:address>:443"),
        ("::1", "<redacted:address>"),
        ("proxy at 2001:db8::8a2e:370:7334 failed", "proxy at <redacted:address> failed"),
        ("fe80::1ff:fe23:4567:890a", "<redacted:address>"),
        ("00:1a:2b:3c:4d:5e", "<redacted:address>"),
        # not addresses
        ("1.96.2", "1.96.2"),
        ("300.1.1.1", "300.1.1.1"),
        ("12:30:45", "12:30:45"),
        ("2026-11-24T10:00:00.123Z", "2026-11-24T10:00:00.123Z"),
        ("std::vector<int>", "std::vector<int>"),
    ],
)
def test_ip_addresses_are_redacted(value, expected):
    assert redact(value) == expected


@pytest.mark.parametrize(
    "token",
    [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "Bearer abcdef.ghijkl-mnop",
        "password=hunter22",
        "api_key: 0a1b2c3d",
        "0123456789abcdef0123456789abcdef",  # 32 hex digits
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # SHA-256
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # AWS secret key shape
        "xoxb-123456789012-abcdefghijklmnop",
        "npm_abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_tokens_and_secrets_are_redacted(token):
    assert redact(token) == "<redacted:secret>"
    assert redact(f"failed with {token} today") == "failed with <redacted:secret> today"


@pytest.mark.parametrize(
    "value",
    ["linux", "1.96.2", "onLanguage:python", "ms-python.python", "vscode.typescript-language-features",
     "workbench.action.files.openFolderViaWorkspace", "https://github.com/microsoft/vscode", "text/plain",
     "@types/node", "N/A", "1/2/2026", "12:30", "a/b/c", "task-management-feature-flag-enabled",
     "basic authentication required", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ordinary sentence with words"],
)
def test_ordinary_values_are_kept(value):
    assert redact(value) == value


def test_property_values_are_redacted_in_events():
    stored = _scrub(_event(properties={"file": "/home/alice/x", "mail": "alice@example.com",
                                       "token": "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "id": "pub.ext"}))
    assert stored["properties"] == {"file": "<redacted:path>", "mail": "<redacted:email>",
                                    "token": "<redacted:secret>", "id": "pub.ext"}


def test_measurements_keep_numbers_only():
    stored = _scrub(_event(measurements={"a": 1, "b": 2.5, "c": -3}))
    assert stored["measurements"] == {"a": 1, "b": 2.5, "c": -3}
    assert "measurements" in _reason(_event(measurements={"a": "/home/alice"}))


# --- keyed hashing -----------------------------------------------------------------------------------------


def test_hashing_never_returns_the_raw_id():
    hashing = Pseudonyms(SECRET)
    for raw in (MACHINE, SESSION, USER, "alice@example.com", "x"):
        for field in ("m", "s", "u"):
            hashed = hashing.id(field, raw)
            assert len(hashed) == 64 and all(c in "0123456789abcdef" for c in hashed)
            assert hashed != raw and (len(raw) < 4 or raw not in hashed)


def test_hashes_are_stable_per_secret_and_separate_per_field():
    one, again, other = Pseudonyms(SECRET), Pseudonyms(SECRET), Pseudonyms(bytes(32))
    assert one.id("m", MACHINE) == again.batch().id("m", MACHINE)
    assert one.id("m", MACHINE) != other.id("m", MACHINE)
    assert one.id("m", "same") != one.id("u", "same")


def test_client_keys_change_daily_and_never_show_the_address():
    hashing = Pseudonyms(SECRET)
    today, tomorrow = hashing.client("203.0.113.7", "2026-11-24"), hashing.client("203.0.113.7", "2026-11-25")
    assert today != tomorrow and "203.0.113.7" not in today and len(today) == 32
    assert today != hashing.client("203.0.113.8", "2026-11-24")


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        Pseudonyms(b"short")


# --- packing -----------------------------------------------------------------------------------------------


def _encoded(count: int, size: int = 200) -> list[tuple[int, bytes]]:
    return [(i, json.dumps({"n": i, "pad": "x" * size}).encode()) for i in range(count)]


def test_records_hold_many_events_within_the_byte_limit():
    encoded = _encoded(1000)
    records = packing.pack(encoded, max_bytes=32 * 1024)
    assert all(r.size <= 32 * 1024 for r in records)
    assert len(records) == 7  # ~220 bytes an event: about 148 fit 32 KiB
    for record in records[:-1]:  # each record is full: the next event would not have fitted
        assert record.size + 1 + len(encoded[record.indexes[-1] + 1][1]) > 32 * 1024
    seen: list[int] = []
    for record in records:
        body = json.loads(record.data)
        assert body["type"] == "telemetry" and body["v"] == 1 and body["id"] == record.id
        assert len(record.id) == 32 and record.size == len(record.data) + 32
        assert [e["n"] for e in body["events"]] == list(record.indexes)
        seen += record.indexes
    assert seen == list(range(1000))
    assert len({r.id for r in records}) == len(records)


def test_records_hold_at_most_max_events():
    records = packing.pack(_encoded(25, 10), max_events=10)
    assert [len(r.indexes) for r in records] == [10, 10, 5]


def test_a_record_is_always_far_below_the_kinesis_limit():
    records = packing.pack(_encoded(500, events.MAX_EVENT_BYTES - 40))
    assert all(r.size <= packing.DEFAULT_MAX_RECORD_BYTES < packing.KINESIS_MAX_RECORD_BYTES for r in records)
    assert sum(len(r.indexes) for r in records) == 500


def test_an_event_larger_than_a_record_is_a_programming_error():
    with pytest.raises(ValueError, match="does not fit"):
        packing.pack(_encoded(1, 5000), max_bytes=4096)
    assert packing.pack([]) == []


def test_typical_events_pack_many_to_a_record():
    raw = [_event(properties={"extensionId": f"pub.ext{i % 7}", "reason": "onStartupFinished",
                              "common.version": "1.96.2", "common.platform": "linux"}) for i in range(100)]
    prepared = batch.prepare(raw, Pseudonyms(SECRET), NOW)
    assert prepared.accepted == 100 and len(prepared.records) == 1


# --- the batch ---------------------------------------------------------------------------------------------


def test_a_batch_is_parsed_or_refused_as_a_whole():
    assert batch.parse(json.dumps({"events": [{}]}).encode()) == [{}]
    for body in (b"", b"{", b"\xff\xfe", b"[]", b'"events"', b'{"events": {}}', b'{"events": []}', b'{"other": [1]}',
                 b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(BadRequest):
            batch.parse(body)
    with pytest.raises(PayloadTooLarge):
        batch.parse(json.dumps({"events": [{}] * 501}).encode())
    assert len(batch.parse(json.dumps({"events": [{}] * 500}).encode())) == 500
    with pytest.raises(PayloadTooLarge):
        batch.parse(b" " * (events.MAX_BODY_BYTES + 1))


def test_a_mixed_batch_keeps_the_good_events_in_order():
    raw = [_event(), {"eventName": "x"}, _event(eventName="b"), "junk", _event(eventName="c")]
    prepared = batch.prepare(raw, Pseudonyms(SECRET), NOW)
    assert prepared.accepted == 3 and [r.index for r in prepared.rejected] == [1, 3]
    assert prepared.records[0].indexes == (0, 2, 4)
    names = [e["eventName"] for e in json.loads(prepared.records[0].data)["events"]]
    assert names == ["vscode/extension/activation", "b", "c"]


def test_nan_from_json_is_rejected_per_event():
    raw = batch.parse(b'{"events": [{"eventName": "a", "measurements": {"m": NaN}}]}')
    assert raw[0]["measurements"]["m"] != raw[0]["measurements"]["m"]  # json.loads did read NaN
    prepared = batch.prepare([{**_event(), "measurements": raw[0]["measurements"]}], Pseudonyms(SECRET), NOW)
    assert prepared.rejected[0].reason.startswith("measurements")


# --- putting records, with retries --------------------------------------------------------------------------


class FakeKinesis:
    """Stores records; ``refuse`` decides, per attempt and record, whether to fail it."""

    def __init__(self, refuse: Any = None, raise_first: int = 0) -> None:
        self.stored: list[bytes] = []
        self.calls: list[int] = []
        self.refuse = refuse or (lambda attempt, position: False)
        self.raise_first = raise_first

    def put_records(self, **call: Any) -> dict[str, Any]:
        records: list[dict[str, Any]] = call["Records"]
        assert call["StreamName"] == "events"
        attempt = len(self.calls)
        self.calls.append(len(records))
        if attempt < self.raise_first:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://kinesis")
        results: list[dict[str, Any]] = []
        for position, record in enumerate(records):
            assert record["PartitionKey"] and isinstance(record["Data"], bytes)
            if self.refuse(attempt, position):
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
            else:
                self.stored.append(record["Data"])
                results.append({"SequenceNumber": str(len(self.stored)), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def _records(count: int) -> list[Record]:
    return [Record(f"{i:032x}", f"record-{i}".encode(), (i,)) for i in range(count)]


@pytest.fixture
def kinesis(monkeypatch: pytest.MonkeyPatch):
    def install(fake: FakeKinesis) -> FakeKinesis:
        monkeypatch.setattr(aws, "client", lambda service: fake)
        return fake

    monkeypatch.setenv("EVENTS_STREAM", "events")
    return install




def test_only_refused_records_are_sent_again_with_growing_pauses(kinesis):
    fake = kinesis(FakeKinesis(refuse=lambda attempt, position: attempt < 3 and position % 2 == 1))
    clock = Clock()
    left = stream.put(_records(10), deadline=10.0, clock=clock, sleep=clock.sleep, jitter=lambda: 1.0)
    assert left == []
    assert fake.calls == [10, 5, 2, 1]  # the odd positions of each attempt fail again until the fourth
    assert sorted(fake.stored) == sorted(f"record-{i}".encode() for i in range(10))  # each exactly once
    assert clock.sleeps == [0.05, 0.1, 0.2]


def test_jitter_spreads_the_pauses(kinesis):
    kinesis(FakeKinesis(refuse=lambda attempt, position: attempt < 2))
    clock = Clock()
    stream.put(_records(1), deadline=10.0, clock=clock, sleep=clock.sleep, jitter=lambda: 0.25)
    assert clock.sleeps == [0.0125, 0.025]


def test_records_still_refused_at_the_deadline_are_returned_not_dropped(kinesis):
    fake = kinesis(FakeKinesis(refuse=lambda attempt, position: position == 0))
    clock = Clock()
    left = stream.put(_records(3), deadline=1.0, clock=clock, sleep=clock.sleep, jitter=lambda: 1.0)
    assert [r.id for r in left] == [f"{0:032x}"]
    assert sum(clock.sleeps) < 1.0 and len(fake.calls) > 3
    assert sorted(fake.stored) == [b"record-1", b"record-2"]


def test_every_record_is_sent_once_even_past_the_deadline(kinesis):
    fake = kinesis(FakeKinesis())
    assert stream.put(_records(2), deadline=-1.0) == [] and fake.calls == [2]


def test_a_call_failing_as_a_whole_is_retried(kinesis):
    fake = kinesis(FakeKinesis(raise_first=1))
    clock = Clock()
    assert stream.put(_records(4), deadline=5.0, clock=clock, sleep=clock.sleep) == []
    assert fake.calls == [4, 4] and len(fake.stored) == 4


def test_calls_hold_at_most_500_records_and_5_mib(kinesis):
    fake = kinesis(FakeKinesis())
    many = [Record(f"{i:032x}", b"x", (i,)) for i in range(1200)]
    stream.put(many, deadline=5.0)
    assert fake.calls == [500, 500, 200]
    fake.calls.clear()
    big = [Record(f"{i:032x}", b"x" * (1024 * 1024 - 32), (i,)) for i in range(12)]
    stream.put(big, deadline=5.0)
    assert fake.calls == [5, 5, 2]


def test_refused_events_are_reported_and_nothing_stored_means_retry_all():
    raw = [_event(eventName=f"e{i}") for i in range(6)] + [{"bad": True}]

    def refuse_second(records, deadline):
        return [records[1]]

    outcome = service.ingest(raw, Pseudonyms(SECRET), NOW, 0.0, max_record_events=2, put=refuse_second)
    assert outcome.accepted == 4 and not outcome.stored_nothing
    assert [(r.index, r.reason) for r in outcome.rejected] == [
        (2, service.UNAVAILABLE), (3, service.UNAVAILABLE), (6, "eventName: must be a string")]
    everything = service.ingest(raw, Pseudonyms(SECRET), NOW, 0.0, put=lambda records, deadline: list(records))
    assert everything.accepted == 0 and everything.stored_nothing
    nothing_valid = service.ingest([{"bad": True}], Pseudonyms(SECRET), NOW, 0.0,
                                   put=lambda records, deadline: pytest.fail("nothing to put"))
    assert nothing_valid.body() == {"accepted": 0, "rejected": [{"index": 0, "reason": "eventName: must be a string"}]}
    assert not nothing_valid.stored_nothing
