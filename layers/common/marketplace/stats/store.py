"""Data access for per-extension totals in the statistics table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from marketplace.platform.dynamo import bind, get_or_none
from marketplace.platform.resources import STATISTICS_TABLE

TOTALS_SK = "TOTALS"
KINDS = ("download", "install", "update", "uninstall")


class ExtensionTotals(Model):
    class Meta:
        table_name = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=TOTALS_SK)
    downloads = NumberAttribute(default=0)
    installs = NumberAttribute(default=0)
    updates = NumberAttribute(default=0)
    uninstalls = NumberAttribute(default=0)
    # written by the reviews capability when a rating changes
    average_rating = NumberAttribute(null=True)
    rating_count = NumberAttribute(default=0)

    @staticmethod
    def key(extension: str) -> str:
        return f"EXT#{extension}"


def add_totals(totals: Mapping[str, Counter[str]]) -> None:
    """One atomic ``ADD`` per extension, however many events the batch held for it."""
    model = bind(ExtensionTotals, STATISTICS_TABLE)
    for extension, counts in totals.items():
        item = model(ExtensionTotals.key(extension), TOTALS_SK)
        item.update(actions=[getattr(ExtensionTotals, f"{kind}s").add(n) for kind, n in sorted(counts.items())])


def get_totals(extension: str) -> dict[str, int]:
    item = get_or_none(ExtensionTotals, STATISTICS_TABLE, ExtensionTotals.key(extension), TOTALS_SK)
    if item is None:
        return dict.fromkeys(KINDS, 0)
    return {kind: int(getattr(item, f"{kind}s")) for kind in KINDS}


def totals_for(extensions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Statistics of many extensions in one BatchGet: id → downloads, installs, updates, uninstalls,
    average_rating, rating_count. Extensions without totals are left out."""
    model = bind(ExtensionTotals, STATISTICS_TABLE)
    keys = [(ExtensionTotals.key(e), TOTALS_SK) for e in dict.fromkeys(extensions)]
    found: dict[str, dict[str, Any]] = {}
    for item in model.batch_get(keys):
        values: dict[str, Any] = {f"{kind}s": int(getattr(item, f"{kind}s") or 0) for kind in KINDS}
        values["average_rating"] = float(item.average_rating) if item.average_rating is not None else None
        values["rating_count"] = int(item.rating_count or 0)
        found[item.pk.removeprefix("EXT#")] = values
    return found
