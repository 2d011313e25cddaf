"""Extensions' statistics for operators and for code that seeds them (the statistics table's ``TOTALS``
items; ``stats.item`` describes them). What readers show of them, ``statistics_of`` and ``totals_for``, lives
in ``stats.totals``, which the gallery loads without pynamodb.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
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
from marketplace.stats.totals import statistics_of


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


def report(extension: str, today: int | None = None) -> dict[str, Any] | None:
    """Everything the statistics table knows about one extension, for operators: the totals, the trending
    scores, weekly downloads, and per day the activations with their P50 and P95 times (ms), plus the same
    over the last seven days, and the downloads, installs, updates and uninstalls of each of the last 61 days and
    of each version kept (``stats.item``: ``ver``), newest version first. None when there is no totals item."""
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
        "events_by_day": [{"day": measures.day_key(d), **{COUNTER[k]: counts.get(item.CODE[k], 0) for k in KINDS}}
                          for d, counts in sorted(state.days.items(), reverse=True)],
        "events_by_version": [{"version": v, **{COUNTER[k]: state.versions[v].counts.get(item.CODE[k], 0)
                                                for k in KINDS}}
                              for v in sorted(state.versions, key=version_order, reverse=True)],
    }


_Parts = tuple[tuple[int, int, str], ...]


def version_order(version: str) -> tuple[_Parts, int, _Parts, str]:
    """A sort key ordering versions by SemVer precedence: ``1.10.0`` after ``1.9.0``, a release after its
    pre-releases (``1.2.0-beta.1``); numbers compare as numbers, other parts as text, after the numbers. Any
    text has a key (events name versions the catalog may not have). A local key: statistics sit below the
    catalog and its ``semver``."""
    core, _, prerelease = version.split("+", 1)[0].partition("-")

    def parts(dotted: str) -> _Parts:
        if not dotted:
            return ()
        return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in dotted.split("."))

    return parts(core), 0 if prerelease else 1, parts(prerelease), version
