"""Reading extensions' statistics (the statistics table's ``TOTALS`` items; ``stats.item`` describes them).

``totals_for`` is what the catalog reader and the search indexer use: the counters, the rating (its average
computed from ``rating_sum`` and ``rating_count``, which the reviews function keeps exact) and the installs
of each of the last 61 days, from which readers compute trending scores (``stats.measures``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.dynamo import bind
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.stats import item, measures
from marketplace.stats.item import COUNTER, KINDS
from marketplace.stats.item import TOTALS_SK as TOTALS_SK
from marketplace.stats.reads import read_items

_PROJECTION = "pk, downloads, installs, updates, uninstalls, rating_sum, rating_count, #days"


class ExtensionTotals(Model):
    """The counters of a totals item, for code that seeds them (tests, benchmarks, imports from another
    marketplace). The stats function writes through ``stats.writer``, with its watermarks."""

    class Meta:
        table_name = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=TOTALS_SK)
    downloads = NumberAttribute(default=0)
    installs = NumberAttribute(default=0)
    updates = NumberAttribute(default=0)
    uninstalls = NumberAttribute(default=0)
    # changed only by the reviews function, with ADD, in the transaction that changes a review
    rating_sum = NumberAttribute(default=0)
    rating_count = NumberAttribute(default=0)

    @staticmethod
    def key(extension: str) -> str:
        return f"EXT#{extension}"


def add_totals(totals: Mapping[str, Counter[str]]) -> None:
    """Add event counts (kind -> count) to extensions' counters: one ``ADD`` per extension."""
    model = bind(ExtensionTotals, STATISTICS_TABLE)
    for extension, counts in totals.items():
        entry = model(ExtensionTotals.key(extension), TOTALS_SK)
        entry.update(actions=[getattr(ExtensionTotals, COUNTER[kind]).add(n) for kind, n in sorted(counts.items())])


def get_totals(extension: str) -> dict[str, int]:
    """Events of each kind ever counted for ``extension`` (consistent read)."""
    answer = aws.client("dynamodb").get_item(TableName=location(STATISTICS_TABLE), Key=item.key(extension),
                                             ConsistentRead=True)
    found = answer.get("Item") or {}
    return {kind: item.number(found.get(COUNTER[kind])) for kind in KINDS}


def statistics_of(raw: Mapping[str, Any], today: int) -> dict[str, Any]:
    """What readers show of a totals item, as of day ``today``:

    - ``downloads``: every package fetch (download, install and update events): Open VSX's ``downloadCount``
      and the gallery's ``downloadCount``; ``installs``, ``updates``, ``uninstalls``: those events alone;
    - ``average_rating`` (``rating_sum / rating_count``; None without ratings), ``rating_count``;
    - ``installs_by_day``: installs per day, newest first from ``stats_day`` (= ``today``);
    - ``weekly_downloads``: package fetches in the last seven days.
    """
    counters = {kind: item.number(raw.get(COUNTER[kind])) for kind in KINDS}
    days = item.day_counts(raw)
    installs = {day: counts.get("i", 0) for day, counts in days.items()}
    fetches = {day: counts.get("d", 0) + counts.get("i", 0) + counts.get("u", 0) for day, counts in days.items()}
    rating_count = item.number(raw.get("rating_count"))
    return {
        "downloads": counters["download"] + counters["install"] + counters["update"],
        "installs": counters["install"],
        "updates": counters["update"],
        "uninstalls": counters["uninstall"],
        "rating_count": rating_count,
        "average_rating": measures.average_rating(item.decimal(raw.get("rating_sum")), rating_count),
        "installs_by_day": measures.counts_by_age(installs, today),
        "stats_day": today,
        "weekly_downloads": sum(measures.counts_by_age(fetches, today, 7)),
    }


def totals_for(extensions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Statistics of many extensions (``statistics_of``), read with BatchGetItem (100 a call, eventually
    consistent). Extensions without a totals item are left out."""
    today = measures.today()
    found = read_items(extensions, consistent=False, projection=_PROJECTION, names={"#days": item.DAYS})
    return {extension: statistics_of(raw, today) for extension, raw in found.items()}


def report(extension: str, today: int | None = None) -> dict[str, Any] | None:
    """Everything the statistics table knows about one extension, for operators: the totals, the trending
    scores, weekly downloads, and per day the activations with their P50 and P95 times (ms), plus the same
    over the last seven days. None when there is no totals item."""
    answer = aws.client("dynamodb").get_item(TableName=location(STATISTICS_TABLE), Key=item.key(extension),
                                             ConsistentRead=True)
    raw = answer.get("Item")
    if not raw:
        return None
    day = measures.today() if today is None else today
    shown = statistics_of(raw, day)
    state = item.state_of(raw)
    per_day = [{"day": measures.day_key(d), "activations": a.count,
                "p50_ms": measures.percentile(a.histogram, 0.5), "p95_ms": measures.percentile(a.histogram, 0.95)}
               for d, a in sorted(state.activations.items(), reverse=True)]
    week = measures.merge(a.histogram for d, a in state.activations.items() if d > day - 7)
    return {
        "extension": extension,
        **{k: v for k, v in shown.items() if k not in ("installs_by_day", "stats_day")},
        **{f"trending_{name}": measures.trending(shown["installs_by_day"], day, day, window)
           for name, window in measures.TRENDING_WINDOWS.items()},
        "weighted_rating": measures.weighted_rating(shown["average_rating"], shown["rating_count"]),
        "activations_7d": {"activations": sum(week.values()), "p50_ms": measures.percentile(week, 0.5),
                           "p95_ms": measures.percentile(week, 0.95)},
        "activations_by_day": per_day,
    }
