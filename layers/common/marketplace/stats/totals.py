"""What readers show of extensions' statistics (the statistics table's ``TOTALS`` items; ``stats.item``
describes them), read with the plain DynamoDB client.

``totals_for`` is what the catalog reader and the search indexer use: the counters, the rating (its average
computed from ``rating_sum`` and ``rating_count``, which the reviews function keeps exact) and the installs
of each of the last 61 days, from which readers compute trending scores (``stats.measures``). A module of its
own, without pynamodb, so the gallery's cold start loads none (``stats.store`` keeps the seeding model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from marketplace.stats import item, measures
from marketplace.stats.item import COUNTER, KINDS
from marketplace.stats.reads import read_items

_PROJECTION = "pk, downloads, installs, updates, uninstalls, rating_sum, rating_count, #days"


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
