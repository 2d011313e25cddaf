"""The stats function against moto: a batch is summed in memory and written once per extension, counting is
exactly once whatever Lambda redelivers (the same batch again, a retry from the first record not applied,
a bisected batch), telemetry activations aggregate per day, unknown and unreadable records do not block
the shard, and new counts reach the search index (the catalog item is touched) and the gallery's and Open
VSX's answers, sorts included."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.search_indexer import handler as indexer_handler
from functions.stats import handler
from marketplace.catalog import store as catalog
from marketplace.catalog.keys import TOUCHED_AT
from marketplace.catalog.store import NewVersion
from marketplace.gallery import service
from marketplace.platform import aws
from marketplace.platform.batch import BatchFailed
from marketplace.platform.config import location
from marketplace.platform.resources import EXTENSIONS_TABLE, STATISTICS_TABLE
from marketplace.search import indexer, loader, snapshot
from marketplace.search.encoding import segment_of
from marketplace.stats import measures, store, totals, writer
from tests.integration.events import context, http_event

SHARD = "shardId-000000000001"
FIRST = 49_654_129_834_287_543_017_260_182_366_029_134_585_726_103_298_816_245_891  # 59 digits
BASE = "https://mp.example.test"
WRITES = ("UpdateItem", "PutItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem")


def now_iso(days_ago: int = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def extension_event(kind: str, extension: str = "pub.ext", days_ago: int = 0, event_id: str | None = None,
                    version: str = "1.0.0") -> bytes:
    event = {"type": kind, "extension": extension, "version": version, "target_platform": None,
             "client": "VSCode 1.100.3", "at": now_iso(days_ago)}
    if event_id:
        event["id"] = event_id
    return json.dumps(event).encode()


def activation(extension: str, milliseconds: float, days_ago: int = 0) -> dict[str, Any]:
    return {"eventName": "vscode/extension/activation", "timestamp": now_iso(days_ago), "machineId": "hash-m",
            "sessionId": "hash-s", "properties": {"extensionId": extension},
            "measurements": {"activationTime": milliseconds}}


def telemetry(*packed: dict[str, Any]) -> bytes:
    return json.dumps({"type": "telemetry", "v": 1, "events": list(packed)}).encode()


def record(data: bytes, sequence: int, shard: str = SHARD) -> dict[str, Any]:
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": str(sequence),
                    "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": 1.0},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard}:{sequence}",
        "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/marketplace-test-events",
    }


def records(*payloads: bytes, start: int = FIRST, shard: str = SHARD) -> list[dict[str, Any]]:
    return [record(data, start + 7 * index, shard) for index, data in enumerate(payloads)]


def invoke(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return handler.lambda_handler({"Records": batch}, context("stats"))


class Writes:
    """Every write call to DynamoDB through the shared client: (operation, table, partition key)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        aws.client("dynamodb").meta.events.register("before-parameter-build.dynamodb.*", self)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES:
            key = params.get("Key", {}).get("pk", {}).get("S", "")
            self.calls.append((model.name, params.get("TableName", "*"), key))

    def to(self, table: str, pk: str | None = None) -> list[str]:
        return [op for op, t, key in self.calls if t in (table, "*") and (pk is None or key == pk)]

    def close(self) -> None:
        aws.client("dynamodb").meta.events.unregister("before-parameter-build.dynamodb.*", self)


@pytest.fixture
def writes(deployment) -> Iterator[Writes]:
    counted = Writes()
    yield counted
    counted.close()


@pytest.fixture(autouse=True)
def _fresh_processor(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """A controllable clock for the module's processor, and nothing owed from another test."""
    clock = [datetime.now(UTC).timestamp()]
    monkeypatch.setattr(handler.processor, "clock", lambda: clock[0])
    handler.processor.toucher.owed.clear()
    yield clock
    handler.processor.toucher.owed.clear()


def statistics_item(extension: str) -> dict[str, Any]:
    found = boto3.client("dynamodb").get_item(TableName=location(STATISTICS_TABLE), ConsistentRead=True,
                                              Key={"pk": {"S": f"EXT#{extension}"}, "sk": {"S": "TOTALS"}})
    return dict(found.get("Item") or {})


# ---------------------------------------------------------------------------------------- one write


def test_a_batch_with_many_events_for_one_extension_writes_its_item_once(writes: Writes):
    kinds = ["install"] * 150 + ["download"] * 100 + ["update"] * 40 + ["uninstall"] * 10
    payloads = [extension_event(kind, event_id=f"e{index}") for index, kind in enumerate(kinds)]
    payloads += [extension_event("install", "other.ext"), json.dumps({"type": "something-new"}).encode(),
                 telemetry(activation("pub.ext", 40)), extension_event("download", "other.ext")]
    assert invoke(records(*payloads)) == {"batchItemFailures": []}

    table = location(STATISTICS_TABLE)
    assert writes.to(table, "EXT#pub.ext") == ["UpdateItem"]
    assert writes.to(table, "EXT#other.ext") == ["UpdateItem"]
    assert len(writes.to(table)) == 2
    assert store.get_totals("pub.ext") == {"install": 150, "download": 100, "update": 40, "uninstall": 10}
    assert store.get_totals("other.ext") == {"install": 1, "download": 1, "update": 0, "uninstall": 0}
    shown = totals.totals_for(["pub.ext"])["pub.ext"]
    assert shown["downloads"] == 290 and shown["installs"] == 150  # every package fetch is a download
    assert shown["installs_by_day"] == (150,) and shown["weekly_downloads"] == 290
    assert handler.processor.last is not None and handler.processor.last.writes == 2


def test_the_same_batch_delivered_again_changes_nothing(writes: Writes):
    batch = records(*[extension_event("install", event_id=f"e{i}") for i in range(20)],
                    telemetry(activation("pub.ext", 30)), extension_event("download", "other.ext"))
    invoke(batch)
    before = {e: statistics_item(e) for e in ("pub.ext", "other.ext")}
    writes.calls.clear()
    assert invoke(batch) == {"batchItemFailures": []}
    assert writes.to(location(STATISTICS_TABLE)) == []
    assert {e: statistics_item(e) for e in ("pub.ext", "other.ext")} == before
    assert store.get_totals("pub.ext")["install"] == 20


def test_duplicate_event_ids_in_a_batch_count_once(deployment):
    invoke(records(extension_event("install", event_id="same"), extension_event("install", event_id="same"),
                   extension_event("install", event_id="other")))
    assert store.get_totals("pub.ext")["install"] == 2
    assert handler.processor.last_batch is not None and handler.processor.last_batch.tally.duplicates == 1


# ------------------------------------------------------------------------------------ redeliveries


def test_a_partial_failure_then_a_differently_bisected_retry_ends_exact(deployment, monkeypatch: pytest.MonkeyPatch):
    extensions = ["a.x", "b.x", "c.x", "d.x"]
    payloads = [extension_event("install" if i % 3 else "download", extensions[i % 4], event_id=f"p{i}")
                for i in range(40)]
    batch = records(*payloads)
    real_write = writer.write
    failing = {"c.x"}

    def flaky(change: Any) -> None:
        if change.extension in failing:
            raise RuntimeError("throttled")
        real_write(change)

    monkeypatch.setattr(writer, "write", flaky)
    answer = invoke(batch)
    # c.x's first record (the third) is the first one not applied: Lambda retries from it
    assert answer == {"batchItemFailures": [{"itemIdentifier": batch[2]["kinesis"]["sequenceNumber"]}]}
    assert store.get_totals("a.x")["install"] + store.get_totals("a.x")["download"] == 10
    assert store.get_totals("c.x") == {"install": 0, "download": 0, "update": 0, "uninstall": 0}

    # the retry fails as a whole (the function crashed after some writes), so Lambda bisects it
    failing.add("d.x")
    retry = batch[2:]
    invoke(retry)
    failing.clear()
    halves = [retry[: len(retry) // 2], retry[len(retry) // 2:]]
    for half in (halves[0], halves[0], halves[1]):  # the first half delivered twice
        assert invoke(half) == {"batchItemFailures": []}
    invoke(batch)  # and the whole batch once more, for good measure
    for index, extension in enumerate(extensions):
        expected_installs = sum(1 for i in range(40) if i % 4 == index and i % 3)
        totals = store.get_totals(extension)
        assert (totals["install"], totals["download"]) == (expected_installs, 10 - expected_installs), extension


def test_a_batch_whose_only_record_cannot_be_written_fails_as_a_whole(deployment, monkeypatch: pytest.MonkeyPatch):
    def broken(change: Any) -> None:
        raise RuntimeError("the table is not there")

    monkeypatch.setattr(writer, "write", broken)
    with pytest.raises(BatchFailed):  # a function error: Lambda retries, bisects, then the DLQ
        invoke(records(extension_event("install")))


def test_a_writer_that_loses_the_race_reads_again(deployment, writes: Writes, monkeypatch: pytest.MonkeyPatch):
    invoke(records(extension_event("install"), shard="shardId-000000000007"))
    # another shard's batch, planned from a read that missed the first write
    monkeypatch.setattr(writer, "read_items", lambda extensions, **_: {})
    writes.calls.clear()
    assert invoke(records(extension_event("install"), extension_event("download"))) == {"batchItemFailures": []}
    assert writes.to(location(STATISTICS_TABLE), "EXT#pub.ext") == ["UpdateItem", "UpdateItem"]  # refused, then done
    assert handler.processor.last is not None and handler.processor.last.conflicts == 1
    assert store.get_totals("pub.ext") == {"install": 2, "download": 1, "update": 0, "uninstall": 0}
    watermarks = statistics_item("pub.ext")["wm"]["M"]
    assert set(watermarks) == {"shardId-000000000007", SHARD}
    assert watermarks[SHARD]["M"]["s"]["S"] == str(FIRST + 7)  # kept exactly: 59 digits


# ----------------------------------------------------------------------------- records of all kinds


def test_unknown_and_unreadable_records_do_not_block_the_shard(deployment):
    answer = invoke(records(b"not json", json.dumps({"type": "build-finished"}).encode(),
                            extension_event("install", "Bad Id"), json.dumps({"type": "telemetry", "v": 9}).encode(),
                            extension_event("install")))
    assert answer == {"batchItemFailures": []}
    assert store.get_totals("pub.ext")["install"] == 1
    tally = handler.processor.last_batch.tally  # type: ignore[union-attr]
    assert (tally.unreadable, tally.ignored, tally.events) == (2, 2, 1)


def test_telemetry_activations_aggregate_per_day_with_percentiles(deployment):
    today_times = [12.0, 15.0, 18.0, 22.0, 30.0, 45.0, 60.0, 90.0, 150.0, 2400.0]
    yesterday_times = [100.0, 110.0, 120.0]
    invoke(records(extension_event("install")))  # the marketplace served it: its activations are kept
    packed = [activation("Pub.Ext", t) for t in today_times] + [activation("pub.ext", t, 1) for t in yesterday_times]
    packed += [activation("elsewhere.builtin", 5.0), {"eventName": "vscode/other", "properties": {},
                                                      "measurements": {}}, activation("pub.ext", -3)]
    batch = records(telemetry(*packed[:7]), telemetry(*packed[7:]), start=FIRST + 1000)
    assert invoke(batch) == {"batchItemFailures": []}
    invoke(batch)  # delivered again: nothing more

    report = store.report("pub.ext")
    assert report is not None
    days = {d["day"]: d for d in report["activations_by_day"]}
    today, yesterday = measures.day_key(measures.today()), measures.day_key(measures.today() - 1)
    assert days[today]["activations"] == 10 and days[yesterday]["activations"] == 3

    def expected(values: list[float], fraction: float) -> float:
        ordered = sorted(values)
        exact = ordered[-(-int(fraction * 100) * len(ordered) // 100) - 1]
        return round(measures.bucket_value(measures.bucket(exact)), 1)

    assert days[today]["p50_ms"] == expected(today_times, 0.5)
    assert days[today]["p95_ms"] == expected(today_times, 0.95) == round(measures.bucket_value(
        measures.bucket(2400.0)), 1)
    assert days[yesterday]["p50_ms"] == expected(yesterday_times, 0.5)
    assert report["activations_7d"]["activations"] == 13
    assert statistics_item("elsewhere.builtin") == {}  # never served here: not kept
    tally = handler.processor.last_batch.tally  # type: ignore[union-attr]
    assert tally.skipped_events == 1 and tally.activations == 14


def test_the_report_counts_events_per_version_newest_first(deployment):
    kinds = {"1.10.0": ["install", "install", "update"], "1.9.0": ["download", "uninstall"],
             "1.10.0-beta.1": ["install"], "0.1.0": ["download"]}
    payloads = [extension_event(kind, version=version, days_ago=index % 2)
                for version, listed in kinds.items() for index, kind in enumerate(listed)]
    batch = records(*payloads, telemetry(activation("pub.ext", 20)))
    assert invoke(batch) == {"batchItemFailures": []}
    assert invoke(batch) == {"batchItemFailures": []}  # delivered again: nothing more
    invoke(records(extension_event("update", version="1.10.0"), start=FIRST + 1000))

    report = store.report("pub.ext")
    assert report is not None
    assert report["events_by_version"] == [
        {"version": "1.10.0", "downloads": 0, "installs": 2, "updates": 2, "uninstalls": 0},
        {"version": "1.10.0-beta.1", "downloads": 0, "installs": 1, "updates": 0, "uninstalls": 0},
        {"version": "1.9.0", "downloads": 1, "installs": 0, "updates": 0, "uninstalls": 1},
        {"version": "0.1.0", "downloads": 1, "installs": 0, "updates": 0, "uninstalls": 0},
    ]
    assert (report["installs"], report["updates"]) == (3, 2)
    stored = statistics_item("pub.ext")["ver"]["M"]
    assert stored["1.9.0"] == {"M": {"d": {"N": "1"}, "x": {"N": "1"}, "r": {"N": "1"}}}  # zeros left out
    assert stored["1.10.0"]["M"]["r"] == {"N": "2"}  # counted again by the second write


# ------------------------------------------------------------------------------ the search index


def publish(name: str, publisher: str = "Pub") -> None:
    catalog.record_version(NewVersion(
        publisher=publisher, name=name, version="1.0.0", target_platform="universal", pre_release=False,
        engine="^1.80.0", sha256="0" * 64, size=1, asset_base=f"assets/{publisher.lower()}/{name}/1.0.0/universal/u",
        assets={}, upload_id="u", published_by="alice", published_at=datetime.now(UTC), display_name=name.title(),
        description=f"The {name} extension"))


def extension_stream(deployment) -> list[dict[str, Any]]:
    from marketplace.local.pollers import _dynamodb_record

    streams = boto3.client("dynamodbstreams")
    arn = deployment.table_stream_arns["extensions"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return [_dynamodb_record(r, shard, arn)
            for r in streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]]


def indexed(extension: str) -> dict[str, Any]:
    found = snapshot.read_segment(segment_of(extension))
    assert found is not None
    return next(json.loads(d.record) for d in found[0].documents if d.extension_id == extension)


def touched_at(extension: str) -> float | None:
    item = boto3.client("dynamodb").get_item(TableName=location(EXTENSIONS_TABLE), ConsistentRead=True, Key={
        "pk": {"S": f"EXT#{extension}"}, "sk": {"S": "EXTENSION"}}).get("Item", {})
    return float(item[TOUCHED_AT]["N"]) if TOUCHED_AT in item else None


def index_new_records(deployment, seen: int) -> int:
    stream = extension_stream(deployment)
    assert indexer_handler.lambda_handler({"Records": stream[seen:]}, context("search_indexer")) == {
        "batchItemFailures": []}
    return len(stream)


def browse_by_installs() -> list[tuple[str, float]]:
    loader.reset()  # the gallery's index reads the snapshot again
    found = gallery_query(4)
    return [(i, stats_of(e)["install"]) for i, e in zip(ids(found), found, strict=True)]


def test_new_counts_reach_the_search_index_through_a_touch_at_most_once_a_minute(deployment, _fresh_processor):
    clock = _fresh_processor
    publish("hello")
    publish("world")
    seen = index_new_records(deployment, 0)
    assert indexed("pub.hello").get("in", 0) == 0

    invoke(records(*[extension_event("install", "pub.hello") for _ in range(3)],
                   *[extension_event("install", "pub.world") for _ in range(2)], extension_event("install", "no.such")))
    first_touch = touched_at("pub.hello")
    assert first_touch == pytest.approx(clock[0], abs=0.01) and touched_at("pub.world") == first_touch
    assert touched_at("no.such") is None and "no.such" not in handler.processor.toucher.owed  # not in the catalog
    seen = index_new_records(deployment, seen)
    assert indexed("pub.hello")["in"] == 3 and indexed("pub.hello")["ib"] == [3]
    assert browse_by_installs() == [("pub.hello", 3), ("pub.world", 2)]

    clock[0] += 20  # within the minute: no touch, but one is owed
    invoke(records(extension_event("install", "pub.hello"), *[extension_event("install", "pub.world")] * 3,
                   start=FIRST + 100))
    assert touched_at("pub.hello") == first_touch and set(handler.processor.toucher.owed) == {"pub.hello",
                                                                                                "pub.world"}
    clock[0] += 15
    invoke(records(json.dumps({"type": "unrelated"}).encode(), start=FIRST + 200))  # too early still
    assert touched_at("pub.hello") == first_touch
    clock[0] += 30  # the minute has passed: the next invocation pays the touches it owes
    invoke(records(json.dumps({"type": "unrelated"}).encode(), start=FIRST + 300))
    assert touched_at("pub.hello") == pytest.approx(clock[0], abs=0.01) == touched_at("pub.world")
    assert not handler.processor.toucher.owed
    index_new_records(deployment, seen)
    assert indexed("pub.hello")["in"] == 4
    assert browse_by_installs() == [("pub.world", 5), ("pub.hello", 4)]  # the order follows the new numbers


def test_without_the_extensions_table_the_counts_are_still_written(deployment, monkeypatch: pytest.MonkeyPatch):
    publish("hello")
    monkeypatch.delenv(EXTENSIONS_TABLE.env_var)
    assert invoke(records(extension_event("install", "pub.hello"))) == {"batchItemFailures": []}
    assert store.get_totals("pub.hello")["install"] == 1
    monkeypatch.setenv(EXTENSIONS_TABLE.env_var, EXTENSIONS_TABLE.physical_name("test"))
    assert touched_at("pub.hello") is None


# --------------------------------------------------------------------- what the gallery shows, sorted


def rate(extension: str, ratings: list[int]) -> None:
    """What the reviews function does in its transaction: ADD to the rating counters."""
    boto3.client("dynamodb").update_item(
        TableName=location(STATISTICS_TABLE), Key={"pk": {"S": f"EXT#{extension}"}, "sk": {"S": "TOTALS"}},
        UpdateExpression="ADD rating_sum :s, rating_count :c",
        ExpressionAttributeValues={":s": {"N": str(sum(ratings))}, ":c": {"N": str(len(ratings))}})


def installs_on(extension: str, per_day: dict[int, int]) -> list[bytes]:
    return [extension_event("install", extension, days_ago) for days_ago, n in per_day.items() for _ in range(n)]


@pytest.fixture
def ranked(deployment) -> dict[str, dict[int, int]]:
    """Three extensions with installs spread over the last two months, and ratings."""
    plan = {
        "pub.steady": {1: 5, 2: 5, 3: 5, 8: 5, 9: 5, 10: 5, 40: 30},  # the same pace: trending 0 weekly
        "pub.rising": {1: 30, 3: 10, 20: 1},  # new and fast
        "pub.falling": {2: 1, 9: 40, 25: 200},  # was popular three weeks ago
    }
    for name in ("steady", "rising", "falling"):
        publish(name)
    payloads = [p for extension, per_day in plan.items() for p in installs_on(extension, per_day)]
    for start in range(0, len(payloads), 100):
        invoke(records(*payloads[start:start + 100], start=FIRST + 10 * start))
    rate("pub.steady", [5, 5, 5, 4, 5, 5, 4, 5, 5, 5])  # 4.8 from ten
    rate("pub.rising", [5])  # 5.0 from one
    rate("pub.falling", [2, 3])
    indexer.rebuild()
    loader.reset()
    return plan


def gallery_query(sort_by: int, *criteria: dict[str, Any], order: int = 0) -> list[dict[str, Any]]:
    body = {"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"}, *criteria],
                         "pageNumber": 1, "pageSize": 50, "sortBy": sort_by, "sortOrder": order}],
            "flags": 0x100 | 0x200 | 0x4}
    return list(service.extension_query(body, BASE)["results"][0]["extensions"])


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [f"{e['publisher']['publisherName']}.{e['extensionName']}".lower() for e in found]


def stats_of(found: dict[str, Any]) -> dict[str, float]:
    return {s["statisticName"]: s["value"] for s in found["statistics"]}


def expected_trending(per_day: dict[int, int], window: int) -> float:
    recent = sum(n for age, n in per_day.items() if 1 <= age <= window)
    previous = sum(n for age, n in per_day.items() if window < age <= 2 * window)
    return round((recent - previous) / (previous + 5 * window), 4)


def test_extensionquery_shows_every_statistic(ranked):
    (found,) = gallery_query(0, {"filterType": 7, "value": "pub.steady"})
    shown = stats_of(found)
    assert shown["install"] == 60 and shown["downloadCount"] == 60 and shown["updateCount"] == 0
    assert shown["averagerating"] == 4.8 and shown["ratingcount"] == 10
    assert shown["weightedRating"] == measures.weighted_rating(4.8, 10) == round((48 + 15) / 15, 4)
    for name, window in (("daily", 1), ("weekly", 7), ("monthly", 30)):
        assert shown[f"trending{name}"] == expected_trending(ranked["pub.steady"], window), name
    assert shown["trendingweekly"] == 0.0
    assert stats_of(gallery_query(0, {"filterType": 7, "value": "pub.rising"})[0])["trendingweekly"] == round(
        40 / 35, 4)


SORTED = {
    4: ["pub.falling", "pub.steady", "pub.rising"],  # installs: 241, 60, 41
    6: ["pub.rising", "pub.steady", "pub.falling"],  # average rating: 5.0, 4.8, 2.5
    12: ["pub.steady", "pub.rising", "pub.falling"],  # weighted: 4.2, 3.33, 2.86
    7: ["pub.rising", "pub.steady", "pub.falling"],  # trending daily: 30 / 5, 0, -1 / 6
    8: ["pub.rising", "pub.steady", "pub.falling"],  # weekly: 40 / 35, 0, -39 / 75
    9: ["pub.falling", "pub.rising", "pub.steady"],  # monthly: 241 / 150, 41 / 150, 0
}


def test_sorting_by_statistics_in_search_and_in_lookups(ranked):
    for window, sort_by in (("daily", 7), ("weekly", 8), ("monthly", 9)):  # the examples follow the formula
        days = measures.TRENDING_WINDOWS[window]
        scores = {e: expected_trending(per_day, days) for e, per_day in ranked.items()}
        assert sorted(scores, key=lambda e: -scores[e]) == SORTED[sort_by]
    names = [{"filterType": 7, "value": e} for e in sorted(ranked)]
    for sort_by, leaders in SORTED.items():
        assert ids(gallery_query(sort_by)) == leaders, sort_by  # browsing: the search index
        assert ids(gallery_query(sort_by, *names)) == leaders, sort_by  # looked up by name: the tables
        assert ids(gallery_query(sort_by, order=1)) == leaders[::-1], sort_by
        assert ids(gallery_query(sort_by, *names, order=1)) == leaders[::-1], sort_by


def openvsx(path: str, query: str = "") -> Any:
    from functions.gallery import handler as gallery_handler

    event = http_event("GET", f"/api{path}", "ANY /api/{proxy+}", headers={"host": "mp.example.test"}, query=query)
    answer = gallery_handler.lambda_handler(event, context("gallery"))
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


def test_open_vsx_shows_downloads_and_ratings_and_sorts_by_them(ranked):
    extension = openvsx("/pub/steady")
    assert (extension["downloadCount"], extension["averageRating"], extension["reviewCount"]) == (60, 4.8, 10)
    by_downloads = openvsx("/-/search", "sortBy=downloadCount")["extensions"]
    assert [e["name"] for e in by_downloads] == ["falling", "steady", "rising"]
    assert [e["downloadCount"] for e in by_downloads] == [241, 60, 41]
    by_rating = openvsx("/-/search", "sortBy=rating")["extensions"]
    assert [(e["name"], e["averageRating"], e["reviewCount"]) for e in by_rating] == [
        ("rising", 5.0, 1), ("steady", 4.8, 10), ("falling", 2.5, 2)]
    ascending = openvsx("/-/search", "sortBy=downloadCount&sortOrder=asc")["extensions"]
    assert [e["name"] for e in ascending] == ["rising", "steady", "falling"]
