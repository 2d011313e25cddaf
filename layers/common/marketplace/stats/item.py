"""An extension's statistics item (statistics table, ``EXT#<id>`` / ``TOTALS``) as the stats function and the
statistics readers see it, and its DynamoDB form.

- ``downloads``, ``installs``, ``updates``, ``uninstalls`` (stats function, ``ADD``): events of each kind
  ever counted;
- ``rating_sum``, ``rating_count`` (reviews function, ``ADD`` in the review's transaction): the visible
  reviews' ratings;
- ``days`` (stats): events per UTC day for the last 61 days, ``{"2026-11-24": {"d": 1, "i": 4, "u": 2,
  "x": 1}}`` (download, install, update, uninstall; zeros left out);
- ``ver`` (stats): events per version, ``{"1.2.0": {"d": 3, "i": 2, "u": 1, "r": 41}}`` (the codes of
  ``days``, zeros left out; ``r``: the ``rev`` of the write that last counted an event of the version). At most
  ``MAX_VERSIONS`` (50) versions are kept: those whose events were counted most recently (highest ``r``; among
  the versions of one write, the one with the later record, then the one with more events, then the higher
  text). A version beyond them is dropped with its counts and starts again from zero at its next event, so a
  client naming many made-up versions cannot grow the item toward DynamoDB's 400 KB (versions are at most 64
  characters: ``events``);
- ``act`` (stats): activations per day for the last 30 days with their times' histogram (``measures.bucket``),
  ``{"2026-11-24": {"n": 9, "h": {"37": 5, "38": 4}}}``;
- ``wm`` (stats): per stream shard, the sequence number of the last record applied (a string: Kinesis
  sequence numbers have more digits than a DynamoDB number keeps) and the day it was written,
  ``{"shardId-000000000001": {"s": "4962...", "d": 20781}}`` (``aggregate``);
- ``rev`` (stats): bumped by every stats write, the optimistic lock of its read-modify-write.

Plain dicts of DynamoDB's wire format, not pynamodb: the stats function reads and writes a few nested maps,
and pynamodb's map attributes cost import time and per-item work the consumer's throughput pays for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marketplace.stats import measures

TOTALS_SK = "TOTALS"
KINDS = ("download", "install", "update", "uninstall")
COUNTER = {kind: f"{kind}s" for kind in KINDS}  # the attribute each event kind counts in
CODE = {"download": "d", "install": "i", "update": "u", "uninstall": "x"}  # its key in a day's map
DAYS, VERSIONS, ACTIVATIONS, WATERMARKS, REVISION = "days", "ver", "act", "wm", "rev"
VERSION_REVISION = "r"  # in a version's map: the write that last counted one of its events
MAX_VERSIONS = 50

Raw = Mapping[str, Any]  # an attribute value or item in DynamoDB's JSON form


def key(extension: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"EXT#{extension}"}, "sk": {"S": TOTALS_SK}}


def extension_of(item: Raw) -> str:
    return str(item["pk"]["S"]).removeprefix("EXT#")


@dataclass
class DayActivations:
    count: int = 0
    histogram: dict[int, int] = field(default_factory=dict)  # bucket -> activations


@dataclass
class VersionEvents:
    counts: dict[str, int] = field(default_factory=dict)  # event code -> count
    revision: int = 0  # the item's revision when an event of the version was last counted


@dataclass
class ItemState:
    """What the stats function needs of an item to change it. ``revision`` None: no item yet, or one only the
    reviews function wrote (the stats function's first write creates ``rev``)."""

    revision: int | None = None
    counters: dict[str, int] = field(default_factory=dict)  # attribute name -> count
    rating_count: int = 0
    days: dict[int, dict[str, int]] = field(default_factory=dict)  # day -> event code -> count
    activations: dict[int, DayActivations] = field(default_factory=dict)
    watermarks: dict[str, tuple[int, int]] = field(default_factory=dict)  # shard -> (sequence, day written)
    versions: dict[str, VersionEvents] = field(default_factory=dict)  # version -> its events

    @property
    def known(self) -> bool:
        """Whether the marketplace ever served or rated the extension (activation statistics are kept only
        for those: telemetry names every extension an editor runs, most of them from elsewhere)."""
        return any(self.counters.values()) or self.rating_count > 0


# ------------------------------------------------------------------------------------ DynamoDB's JSON


def number(value: Raw | None) -> int:
    if not value or "N" not in value:
        return 0
    text = str(value["N"])
    return int(text) if text.lstrip("-").isdigit() else int(float(text))


def decimal(value: Raw | None) -> float:
    return float(value["N"]) if value and "N" in value else 0.0


def _map(value: Raw | None) -> Mapping[str, Any]:
    return value.get("M", {}) if value else {}


def day_counts(item: Raw) -> dict[int, dict[str, int]]:
    days: dict[int, dict[str, int]] = {}
    for name, counts in _map(item.get(DAYS)).items():
        day = measures.day_of_key(name)
        if day is not None:
            days[day] = {code: number(n) for code, n in _map(counts).items()}
    return days


def version_counts(item: Raw) -> dict[str, VersionEvents]:
    versions: dict[str, VersionEvents] = {}
    for version, value in _map(item.get(VERSIONS)).items():
        fields = _map(value)
        versions[version] = VersionEvents({code: number(n) for code, n in fields.items() if code != VERSION_REVISION},
                                          number(fields.get(VERSION_REVISION)))
    return versions


def state_of(item: Raw | None) -> ItemState:
    if not item:
        return ItemState()
    activations: dict[int, DayActivations] = {}
    for name, value in _map(item.get(ACTIVATIONS)).items():
        day = measures.day_of_key(name)
        if day is None:
            continue
        fields = _map(value)
        histogram = {int(b): number(n) for b, n in _map(fields.get("h")).items() if b.isdigit()}
        activations[day] = DayActivations(number(fields.get("n")), histogram)
    watermarks = {}
    for shard, value in _map(item.get(WATERMARKS)).items():
        fields = _map(value)
        watermarks[shard] = (int(fields.get("s", {}).get("S", "0")), number(fields.get("d")))
    return ItemState(
        revision=number(item[REVISION]) if REVISION in item else None,
        counters={COUNTER[k]: number(item.get(COUNTER[k])) for k in KINDS},
        rating_count=number(item.get("rating_count")),
        days=day_counts(item),
        activations=activations,
        watermarks=watermarks,
        versions=version_counts(item),
    )


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def days_value(days: Mapping[int, Mapping[str, int]]) -> dict[str, Any]:
    return {"M": {measures.day_key(day): {"M": {code: _n(n) for code, n in sorted(counts.items()) if n}}
                  for day, counts in sorted(days.items())}}


def versions_value(versions: Mapping[str, VersionEvents]) -> dict[str, Any]:
    return {"M": {version: {"M": {**{code: _n(n) for code, n in sorted(v.counts.items()) if n},
                                  VERSION_REVISION: _n(v.revision)}}
                  for version, v in sorted(versions.items())}}


def activations_value(activations: Mapping[int, DayActivations]) -> dict[str, Any]:
    return {"M": {measures.day_key(day): {"M": {"n": _n(a.count),
                                                "h": {"M": {str(b): _n(n) for b, n in sorted(a.histogram.items())}}}}
                  for day, a in sorted(activations.items())}}


def watermarks_value(watermarks: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    # the sequence as a string: Kinesis sequence numbers have more digits than a DynamoDB number keeps
    return {"M": {shard: {"M": {"s": {"S": str(sequence)}, "d": _n(day)}}
                  for shard, (sequence, day) in sorted(watermarks.items())}}
