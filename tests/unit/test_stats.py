"""The statistics' pure parts: formulas (trending, weighted rating, histograms), reading stream records, and
the per-batch aggregation with its watermarks (exactly-once counting whatever the redeliveries)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from marketplace.catalog.ids import UNIVERSAL
from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.stats import aggregate, events, item, measures, store
from marketplace.stats.aggregate import Batch, Entry, plan
from marketplace.stats.item import DayActivations, ItemState, VersionEvents

TODAY = measures.epoch_day(date(2026, 11, 24))
ACTIVATION = "vscode/extension/activation"


# ------------------------------------------------------------------------------------------ measures


def test_days_are_utc_days_since_1970():
    assert measures.epoch_day(date(1970, 1, 2)) == 1
    assert measures.epoch_day(datetime(2026, 11, 24, 23, 30, tzinfo=UTC)) == TODAY
    # 01:30 in UTC+02:00 is still the day before in UTC
    assert measures.epoch_day(datetime.fromisoformat("2026-11-25T01:30:00+02:00")) == TODAY
    assert measures.day_key(TODAY) == "2026-11-24" and measures.day_of_key("2026-11-24") == TODAY
    assert measures.day_of_key("not a day") is None
    assert measures.day_of_timestamp(datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()) == TODAY


def test_counts_by_age_start_at_the_day_read_and_drop_trailing_zeros():
    assert measures.counts_by_age({TODAY: 2, TODAY - 2: 5, TODAY - 100: 9}, TODAY) == (2, 0, 5)
    assert measures.counts_by_age({}, TODAY) == ()


def by_age(**days: int) -> tuple[int, ...]:
    """installs per day from keyword arguments like a1=3 (one day ago)."""
    ages = {int(k[1:]): v for k, v in days.items()}
    return tuple(ages.get(age, 0) for age in range(max(ages, default=-1) + 1))


def test_trending_is_growth_against_the_previous_period_damped_by_five_installs_a_day():
    # weekly: 3 installs last week, none the week before: 3 / 35
    assert measures.trending(by_age(a1=1, a3=2), TODAY, TODAY, 7) == round(3 / 35, 4) == 0.0857
    # 300 installs instead: 300 / 35
    assert measures.trending(by_age(a1=300), TODAY, TODAY, 7) == 8.5714
    # the same pace both weeks: 0; half the pace: negative
    steady = tuple([10] * 15)
    assert measures.trending(steady, TODAY, TODAY, 7) == 0.0
    assert measures.trending(tuple([5] * 8 + [10] * 7), TODAY, TODAY, 7) == round((35 - 70) / (70 + 35), 4)
    # daily: yesterday against the day before
    assert measures.trending(by_age(a1=20, a2=10), TODAY, TODAY, 1) == round(10 / 15, 4)
    # monthly: the last 30 complete days against the 30 before
    assert measures.trending(tuple([0] + [2] * 30 + [1] * 30), TODAY, TODAY, 30) == round(30 / 180, 4)
    assert measures.trending((), TODAY, TODAY, 30) == 0.0


def test_trending_leaves_today_out_and_follows_the_calendar_after_the_counts_were_read():
    assert measures.trending(by_age(a0=1000), TODAY, TODAY, 1) == 0.0  # today's partial day does not count
    # counted on TODAY, asked two days later: yesterday's 1000 installs are now three days old
    counted = by_age(a0=1000)
    assert measures.trending(counted, TODAY, TODAY + 1, 1) == round(1000 / 5, 4)
    assert measures.trending(counted, TODAY, TODAY + 2, 1) == round(-1000 / 1005, 4)
    assert measures.trending(counted, TODAY, TODAY + 60, 30) == round(-1000 / 1150, 4)  # in the previous period
    assert measures.trending(counted, TODAY, TODAY + 61, 30) == 0.0  # out of both


def naive_installs(counts: tuple[int, ...], counted_on: int, on: int, age: int) -> int:
    """Installs on day ``on - age``, from counts per age read on day ``counted_on``."""
    index = age - (on - counted_on)
    return counts[index] if 0 <= index < len(counts) else 0


@pytest.mark.parametrize("seed", range(3))
def test_trending_matches_its_definition_day_by_day(seed: int):
    rng = random.Random(seed)
    for _ in range(200):
        counts = tuple(rng.choice([0, 0, 1, 5, 40]) for _ in range(rng.randint(0, 61)))
        on, window = TODAY + rng.randint(-3, 70), rng.choice([1, 7, 30])
        recent = sum(naive_installs(counts, TODAY, on, age) for age in range(1, window + 1))
        previous = sum(naive_installs(counts, TODAY, on, age) for age in range(window + 1, 2 * window + 1))
        expected = round((recent - previous) / (previous + 5 * window), 4)
        assert measures.trending(counts, TODAY, on, window) == expected
        assert measures.weekly(counts, TODAY, on) == sum(naive_installs(counts, TODAY, on, a) for a in range(7))


def test_weekly_counts_the_last_seven_days_including_today():
    assert measures.weekly((1, 1, 1, 1, 1, 1, 1, 50), TODAY, TODAY) == 7
    assert measures.weekly((1, 1, 1, 1, 1, 1, 1, 50), TODAY, TODAY + 1) == 6


def test_the_weighted_rating_is_a_bayesian_average_damped_for_few_ratings():
    assert measures.weighted_rating(5.0, 5) == 4.0  # (25 + 15) / 10
    assert measures.weighted_rating(5.0, 995) == 4.99
    assert measures.weighted_rating(1.0, 1) == round((1 + 15) / 6, 4)
    assert measures.weighted_rating(None, 0) == measures.weighted_rating(4.0, 0) == 0.0
    # ten 4.5 ratings beat one 5.0
    assert measures.weighted_rating(4.5, 10) > measures.weighted_rating(5.0, 1)
    assert measures.average_rating(9, 2) == 4.5 and measures.average_rating(0, 0) is None


def test_histogram_buckets_are_four_per_doubling():
    assert measures.bucket(0) == measures.bucket(0.99) == measures.bucket(float("nan")) == 0
    assert measures.bucket(1) == 1 and measures.bucket(2) == 5 and measures.bucket(4) == 9
    assert measures.bucket(10**9) == measures.bucket(measures.MAX_ACTIVATION_MS)
    for milliseconds in (1.0, 3.7, 12.0, 250.0, 999.9, 12_345.0, 600_000.0):
        value = measures.bucket_value(measures.bucket(milliseconds))
        assert abs(value - milliseconds) / milliseconds < 0.095, milliseconds


def exact_percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_from_a_histogram_are_within_a_bucket_of_the_exact_ones(seed: int):
    rng = random.Random(seed)
    values = [rng.lognormvariate(4, 1.2) + 1 for _ in range(rng.randint(1, 3000))]
    histogram: dict[int, int] = {}
    for value in values:
        histogram[measures.bucket(value)] = histogram.get(measures.bucket(value), 0) + 1
    for fraction in (0.5, 0.95, 0.99):
        exact, estimate = exact_percentile(values, fraction), measures.percentile(histogram, fraction)
        assert estimate is not None and abs(estimate - exact) / exact < 0.1, (fraction, exact, estimate)


def test_percentiles_of_small_and_empty_histograms():
    assert measures.percentile({}, 0.5) is None
    one = {measures.bucket(100): 1}
    assert measures.percentile(one, 0.5) == measures.percentile(one, 0.95) == round(measures.bucket_value(
        measures.bucket(100)), 1)
    two = measures.merge([{measures.bucket(10): 1}, {measures.bucket(1000): 1}])
    assert measures.percentile(two, 0.5) < 11 < 900 < measures.percentile(two, 0.95)  # type: ignore[operator]


# ---------------------------------------------------------------------------------------- records


def extension_event(kind: str = "install", extension: str = "pub.ext", at: str = "2026-11-24T10:00:00Z",
                    **extra: object) -> bytes:
    return json.dumps({"type": kind, "extension": extension, "version": "1.0.0", "at": at, **extra}).encode()


def activation(extension: str = "pub.ext", milliseconds: object = 120, timestamp: str = "2026-11-24T10:00:00Z",
               **overrides: object) -> dict[str, object]:
    event: dict[str, object] = {"eventName": ACTIVATION, "timestamp": timestamp, "machineId": "h1",
                                "sessionId": "h2", "properties": {"extensionId": extension},
                                "measurements": {"activationTime": milliseconds}}
    event.update(overrides)
    return event


def telemetry(*packed: object, version: int = 1) -> bytes:
    return json.dumps({"type": "telemetry", "v": version, "events": list(packed)}).encode()


def test_an_extension_event_record():
    content = events.read(extension_event(id="0f" * 16))
    assert [(e.type, e.extension, e.id) for e in content.events] == [("install", "pub.ext", "0f" * 16)]
    assert not content.activations and not content.ignored


def test_a_telemetry_record_yields_its_activations_and_skips_bad_ones():
    content = events.read(telemetry(
        activation("Pub.Ext", 12.5), activation("other.ext", 0),
        {"eventName": "vscode/other", "properties": {}, "measurements": {}},
        activation("not an id"), activation(milliseconds=-1), activation(milliseconds="fast"),
        activation(milliseconds=True), activation(timestamp="yesterday"), activation(properties=None), "junk"))
    assert [(a.extension, a.milliseconds) for a in content.activations] == [("pub.ext", 12.5), ("other.ext", 0.0)]
    assert content.skipped == 7 and not content.events


@pytest.mark.parametrize("data", [json.dumps({"type": "something-else"}).encode(), telemetry(version=2),
                                  json.dumps({"no": "type"}).encode()])
def test_records_of_other_types_are_ignored(data: bytes):
    content = events.read(data)
    assert content.ignored and not content.events and not content.activations


@pytest.mark.parametrize("data", [b"\xff", b"[1]", b"not json", extension_event(extension="Bad Id"),
                                  extension_event(id="has spaces"), extension_event(at="yesterday"),
                                  json.dumps({"type": "telemetry", "v": 1, "events": "x"}).encode()])
def test_unreadable_records_are_refused(data: bytes):
    with pytest.raises(events.InvalidEvent):
        events.read(data)


# ---------------------------------------------------------------------------------------- batches


def content(*data: bytes) -> list[events.Content]:
    return [events.read(d) for d in data]


def test_a_batch_sums_per_extension_and_drops_duplicate_ids():
    batch = Batch()
    for sequence, read in enumerate(content(
            extension_event(id="a"), extension_event(id="a"), extension_event("download"),
            extension_event("uninstall", "other.ext"), telemetry(activation(), activation("third.ext"), "junk"),
            json.dumps({"type": "unknown"}).encode()), start=1):
        batch.add("shard-1", sequence, read)
    batch.unreadable()
    assert sorted(batch.extensions) == ["other.ext", "pub.ext", "third.ext"]
    assert [e.kind for e in batch.entries["pub.ext"]] == ["install", "download", "activation"]
    assert batch.first_sequence("pub.ext") == 1 and batch.first_sequence("third.ext") == 5
    tally = batch.tally
    assert (tally.records, tally.events, tally.duplicates, tally.activations, tally.skipped_events, tally.ignored,
            tally.unreadable) == (7, 3, 1, 2, 1, 1, 1)


def entry(sequence: int, kind: str = "install", shard: str = "s1", day: int = TODAY, bucket: int = 0,
          version: str = "") -> Entry:
    return Entry(shard, sequence, kind, day, bucket, version)


def apply(state: ItemState, change: aggregate.Change | None) -> ItemState:
    """What the item holds after the write of ``change`` (as DynamoDB would apply it)."""
    if change is None:
        return state
    assert change.expected == state.revision
    counters = dict(state.counters)
    for attribute, count in change.added.items():
        counters[attribute] = counters.get(attribute, 0) + count
    return ItemState(change.state.revision, counters, state.rating_count, change.state.days,
                     change.state.activations, change.state.watermarks, change.state.versions)


def test_a_change_counts_days_and_moves_the_watermark():
    change = plan("pub.ext", ItemState(), [entry(5), entry(6, "download"), entry(9, "install", day=TODAY - 1)], TODAY)
    assert change is not None and change.expected is None and change.state.revision == 1
    assert change.added == {"installs": 2, "downloads": 1} and change.counts_changed
    assert change.state.days == {TODAY: {"i": 1, "d": 1}, TODAY - 1: {"i": 1}}
    assert change.state.watermarks == {"s1": (9, TODAY)}
    state = apply(ItemState(), change)
    assert plan("pub.ext", state, [entry(5), entry(6, "download"), entry(9)], TODAY) is None  # delivered again
    again = plan("pub.ext", state, [entry(9), entry(12, "update")], TODAY)  # a retry from 9, with a new record
    assert again is not None and again.added == {"updates": 1} and again.expected == 1
    assert again.state.watermarks == {"s1": (12, TODAY)}


def test_watermarks_are_per_shard_and_old_ones_are_dropped():
    state = ItemState(revision=3, counters={"installs": 1},
                      watermarks={"s1": (100, TODAY), "old": (7, TODAY - aggregate.WATERMARK_DAYS)})
    change = plan("pub.ext", state, [entry(50, shard="s2"), entry(99, shard="s1"), entry(101, shard="s1")], TODAY)
    assert change is not None and change.added == {"installs": 2}
    assert change.state.watermarks == {"s1": (101, TODAY), "s2": (50, TODAY)}


def test_days_outside_the_window_are_pruned_and_future_days_count_today():
    old = {TODAY - measures.DAYS_KEPT: {"i": 4}, TODAY - measures.DAYS_KEPT + 1: {"i": 2}}
    activations = {TODAY - measures.ACTIVATION_DAYS_KEPT: DayActivations(1, {3: 1}), TODAY: DayActivations(1, {9: 1})}
    state = ItemState(revision=1, counters={"installs": 6}, days=old, activations=activations)
    change = plan("pub.ext", state, [entry(1, day=TODAY + 3), entry(2, day=TODAY - 400),
                                     entry(3, "activation", day=TODAY, bucket=9)], TODAY)
    assert change is not None and change.added == {"installs": 2}  # the old event still counts in the total
    assert change.state.days == {TODAY - measures.DAYS_KEPT + 1: {"i": 2}, TODAY: {"i": 1}}
    assert change.state.activations == {TODAY: DayActivations(2, {9: 2})}


def test_activations_count_only_for_extensions_the_marketplace_knows():
    activations = [entry(1, "activation", bucket=20), entry(2, "activation", bucket=21)]
    assert plan("elsewhere.ext", ItemState(), activations, TODAY) is None
    rated = ItemState(rating_count=2)  # created by a review: known
    change = plan("pub.ext", rated, activations, TODAY)
    assert change is not None and not change.added and not change.counts_changed
    assert change.state.activations == {TODAY: DayActivations(2, {20: 1, 21: 1})}
    served_now = plan("new.ext", ItemState(), [entry(0, "install"), *activations], TODAY)  # installed in this batch
    assert served_now is not None and served_now.activations == 2


def versions_of(state: ItemState) -> dict[str, dict[str, int]]:
    return {version: found.counts for version, found in state.versions.items()}


def test_a_batch_keeps_each_events_version():
    batch = Batch()
    for sequence, read in enumerate(content(extension_event(version="1.2.0"), telemetry(activation()),
                                            extension_event("download", version="2.0.0-rc.1")), start=1):
        batch.add("s1", sequence, read)
    assert [(e.kind, e.version) for e in batch.entries["pub.ext"]] == [
        ("install", "1.2.0"), ("activation", ""), ("download", "2.0.0-rc.1")]


def test_a_change_counts_versions_once_whatever_the_redeliveries():
    entries = [entry(5, version="1.2.0"), entry(6, "download", version="1.2.0"),
               entry(7, "uninstall", version="1.1.0", day=TODAY - 400), entry(8, "activation")]
    change = plan("pub.ext", ItemState(), entries, TODAY)
    assert change is not None
    # every event counts for its version, even one older than the days kept
    assert versions_of(change.state) == {"1.2.0": {"i": 1, "d": 1}, "1.1.0": {"x": 1}}
    assert {v: e.revision for v, e in change.state.versions.items()} == {"1.2.0": 1, "1.1.0": 1}
    state = apply(ItemState(), change)
    assert plan("pub.ext", state, entries, TODAY) is None  # the same batch delivered again
    again = plan("pub.ext", state, [*entries[2:], entry(9, "update", version="1.2.0")], TODAY)  # a retry from 7
    assert again is not None and again.added == {"updates": 1}
    assert versions_of(again.state) == {"1.2.0": {"i": 1, "d": 1, "u": 1}, "1.1.0": {"x": 1}}
    assert {v: e.revision for v, e in again.state.versions.items()} == {"1.2.0": 2, "1.1.0": 1}
    # only activations: the versions are written unchanged
    later = plan("pub.ext", apply(state, again), [entry(10, "activation")], TODAY)
    assert later is not None and versions_of(later.state) == versions_of(again.state)


def test_the_version_map_round_trips_through_dynamodbs_form_without_zeros():
    versions = {"1.2.0": VersionEvents({"d": 3, "i": 2, "u": 1, "x": 0}, 41), "0.9.0": VersionEvents({"x": 1}, 7)}
    value = item.versions_value(versions)
    assert value == {"M": {"0.9.0": {"M": {"x": {"N": "1"}, "r": {"N": "7"}}},
                           "1.2.0": {"M": {"d": {"N": "3"}, "i": {"N": "2"}, "u": {"N": "1"}, "r": {"N": "41"}}}}}
    state = item.state_of({"pk": {"S": "EXT#pub.ext"}, "rev": {"N": "41"}, "ver": value})
    assert state.versions == {"1.2.0": VersionEvents({"d": 3, "i": 2, "u": 1}, 41), "0.9.0": VersionEvents({"x": 1}, 7)}
    assert item.state_of({"pk": {"S": "EXT#pub.ext"}, "rev": {"N": "3"}}).versions == {}  # written before versions


def test_at_most_fifty_versions_are_kept_those_counted_most_recently():
    assert item.MAX_VERSIONS == 50
    first = [entry(n, version=f"1.0.{n}") for n in range(1, 41)]  # 40 versions
    state = apply(ItemState(), plan("pub.ext", ItemState(), first, TODAY))
    assert len(state.versions) == 40
    # the next write: 20 new versions and 1.0.1 again (61 in all): the 11 dropped are from the first write
    second = [entry(100 + n, version=f"2.0.{n}") for n in range(20)] + [entry(200, "update", version="1.0.1")]
    change = plan("pub.ext", state, second, TODAY)
    assert change is not None and change.added == {"installs": 20, "updates": 1}  # the totals count every event
    state = apply(state, change)
    assert len(state.versions) == item.MAX_VERSIONS
    assert {f"2.0.{n}" for n in range(20)} | {"1.0.1"} <= set(state.versions)
    assert state.versions["1.0.1"].counts == {"i": 1, "u": 1}
    # within one write, the versions whose records came later are kept
    flood = [entry(1000 + n, "download", version=f"9.9.{n}") for n in range(60)]
    state = apply(state, plan("pub.ext", state, flood, TODAY))
    assert set(state.versions) == {f"9.9.{n}" for n in range(10, 60)}
    # a dropped version counts again from zero at its next event
    state = apply(state, plan("pub.ext", state, [entry(2000, version="2.0.0")], TODAY))
    assert state.versions["2.0.0"].counts == {"i": 1} and "9.9.10" not in state.versions
    # the longest versions a client can name keep the map far from DynamoDB's 400 KB item limit
    longest = [entry(3000 + n, kind, version=f"{n:03}" + "x" * 61) for n in range(500) for kind in item.CODE]
    bounded = plan("pub.ext", state, longest, TODAY)
    assert bounded is not None and len(bounded.state.versions) == item.MAX_VERSIONS
    assert len(json.dumps(item.versions_value(bounded.state.versions))) < 12_000


def test_versions_sort_by_semver_precedence_newest_first():
    versions = ["1.2.0", "1.10.0", "1.2.0-beta.10", "0.0.1", "1.9.3", "1.2.0-beta.2", "1.2.0-alpha", "2.0.0+build.5",
                "1.2.0-beta"]
    assert sorted(versions, key=store.version_order, reverse=True) == [
        "2.0.0+build.5", "1.10.0", "1.9.3", "1.2.0", "1.2.0-beta.10", "1.2.0-beta.2", "1.2.0-beta", "1.2.0-alpha",
        "0.0.1"]
    assert len(sorted(["1.0", "1.0.0", "1.0.x", "v1", "\uff11.0", ""], key=store.version_order)) == 6  # any text


EVENTS = 400


def delivered(rng: random.Random) -> list[tuple[int, str, str]]:
    """One shard's records: (sequence, extension, kind); sequences increasing, with gaps."""
    sequence, records = 10**40, []  # more digits than a DynamoDB number keeps
    for _ in range(EVENTS):
        sequence += rng.randint(1, 10**20)
        records.append((sequence, rng.choice(["a.x", "b.x", "c.x"]), rng.choice(["install", "download", "update"])))
    return records


@pytest.mark.parametrize("seed", range(20))
def test_every_event_counts_exactly_once_whatever_the_retries(seed: int):
    """Lambda's delivery, simulated: batches of random sizes; a write may fail for some extensions (the batch
    reports the first record not applied and is retried from it), the whole invocation may fail after some
    writes (the batch is bisected), and an applied batch may be delivered again."""
    rng = random.Random(seed)
    records = delivered(rng)
    expected: dict[str, dict[str, int]] = {}
    expected_versions: dict[str, dict[str, dict[str, int]]] = {}
    for sequence, extension, kind in records:
        counts = expected.setdefault(extension, {})
        counts[f"{kind}s"] = counts.get(f"{kind}s", 0) + 1
        codes = expected_versions.setdefault(extension, {}).setdefault(version_of(sequence), {})
        codes[item.CODE[kind]] = codes.get(item.CODE[kind], 0) + 1
    items: dict[str, ItemState] = {}
    position, limit = 0, 100
    while position < len(records):
        if rng.random() < 0.2:  # the checkpoint was lost (a timeout after the writes): records delivered again
            position = rng.randint(max(0, position - 100), position)
        batch_records = records[position:position + limit]
        batch = Batch()
        for sequence, extension, kind in batch_records:
            batch.add("shard-1", sequence, events.Content(events=[events.ExtensionEvent(
                kind, extension, version_of(sequence), datetime(2026, 11, 24, tzinfo=UTC))]))  # type: ignore[arg-type]
        failed: set[str] = set()
        for extension in batch.extensions:
            if rng.random() < 0.15:
                failed.add(extension)
                continue
            state = items.get(extension, ItemState())
            items[extension] = apply(state, plan(extension, state, batch.entries[extension], TODAY))
        if rng.random() < 0.15:  # the invocation failed after its writes: the batch is bisected
            limit = max(1, len(batch_records) // 2)
            continue
        if failed:  # retried from the first record not applied
            first = min(batch.first_sequence(e) for e in failed)
            position = next(i for i, r in enumerate(records) if r[0] == first)
            continue
        position += len(batch_records)
        limit = 100
    counted = {e: {k: v for k, v in s.counters.items() if v} for e, s in items.items()}
    assert counted == expected
    for extension, state in items.items():
        assert sum(day.get("i", 0) for day in state.days.values()) == expected[extension].get("installs", 0)
        assert {v: e.counts for v, e in state.versions.items()} == expected_versions[extension]


def version_of(sequence: int) -> str:
    return f"1.{sequence % 3}.0"


def test_the_watermark_keeps_sequences_beyond_38_digits_exact():
    big = 49_654_129_834_287_543_017_260_182_366_029_134_585_726_103_298_816_245_891
    state = apply(ItemState(), plan("pub.ext", ItemState(), [entry(big)], TODAY))
    assert state.watermarks["s1"][0] == big
    assert plan("pub.ext", state, [entry(big)], TODAY) is None
    later = plan("pub.ext", state, [entry(big + 1)], TODAY)
    assert later is not None and later.added == {"installs": 1}


def test_a_day_key_round_trip_covers_the_window():
    first = date(2026, 11, 24) - timedelta(days=measures.DAYS_KEPT)
    assert measures.day_of_key(first.isoformat()) == TODAY - measures.DAYS_KEPT


# ------------------------------------------------------------------------------- trending in the index


def indexed_view(extension_id: str, installs_by_day: tuple[int, ...], counted_on: int) -> ExtensionView:

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    publisher, name = extension_id.split(".")
    version = VersionView(version="1.0.0", target_platform=UNIVERSAL, pre_release=False, published_at=moment,
                          engine="^1.80.0", asset_base=f"assets/{publisher}/{name}/u", assets=())
    return ExtensionView(
        extension_id=extension_id, publisher=publisher, name=name, display_name=None, description=None,
        categories=("Other",), tags=(), latest_version="1.0.0", latest_prerelease=None, created_at=moment,
        updated_at=moment, versions=(version,), installs=sum(installs_by_day), installs_by_day=installs_by_day,
        stats_day=counted_on)


def test_the_index_sorts_by_trending_and_sorts_again_when_the_day_changes():
    from marketplace.search.index import SearchIndex, SearchRequest

    day = [TODAY]
    index = SearchIndex(today=lambda: day[0])
    # a: 20 installs yesterday; b: 10 a day for two weeks; c: 200 installs eight days ago
    for view in (indexed_view("p.a", (0, 20), TODAY), indexed_view("p.b", (0,) + (10,) * 14, TODAY),
                 indexed_view("p.c", (0,) * 8 + (200,), TODAY)):
        index.upsert(view)

    def order(sort: str, descending: bool = True) -> list[str]:
        found = index.search(SearchRequest(sort=sort, descending=descending))
        return [v.extension_id for v in found.views]

    assert order("trending_daily") == ["p.a", "p.c", "p.b"]  # 20 / 5, then 0 and 0 (ties: more installs first)
    assert order("trending_weekly") == ["p.a", "p.b", "p.c"]  # 20 / 35, 0, -200 / 235
    assert order("trending_weekly", descending=False) == ["p.c", "p.b", "p.a"]
    day[0] = TODAY + 7  # a week later, with no new installs: a's day is in the previous week now
    assert order("trending_weekly") == ["p.c", "p.a", "p.b"]  # c: 0 (out of both weeks), a: -20 / 55, b: -70 / 105
    index.upsert(indexed_view("p.c", (0, 500), TODAY + 7))  # a new change sorts in with today's scores
    assert order("trending_weekly")[0] == "p.c"
    found = index.get("p.c")
    assert found is not None and found.trending("weekly", TODAY + 7) == round(500 / 35, 4)
