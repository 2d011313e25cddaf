"""A batch of stream records summed per extension, and the one change each extension's statistics item gets
from it. Pure Python: ``writer`` reads the items and writes the changes.

Exactly once, per event: each item keeps, per stream shard, the sequence number of the last record it
applied (its *watermark*). Records of a shard reach the function in order, one batch at a time (the event
source's parallelization factor is 1), and a write applies every record of the batch for that extension
after the watermark and moves the watermark to the last of them, atomically (the counters, the per-day and
per-version maps and the watermarks in one ``UpdateItem``). So the records applied to an
item are always exactly those up to its watermark, whatever happened before: a batch delivered again, a
retry from a later record, a bisected batch, or a write that failed for one extension and not another. A
record that is delivered again is simply below the watermark.

Within a batch, an extension event whose ``id`` was already seen is a duplicate put by the producer and is
not counted. (Duplicates that land in different batches are not caught: that would need the ids kept.)
Watermarks of shards that wrote nothing for ``WATERMARK_DAYS`` are dropped: by then the stream (24 hours of
retention) cannot deliver their records again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from marketplace.stats import events, measures
from marketplace.stats.item import CODE, COUNTER, MAX_VERSIONS, DayActivations, ItemState, VersionEvents

ACTIVATION = "activation"
WATERMARK_DAYS = 8  # more than the stream's retention (``resources.EVENTS_STREAM``: 24 hours)


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing a record says about one extension."""

    shard: str
    sequence: int
    kind: str  # an extension event's type, or "activation"
    day: int
    bucket: int = 0  # the activation time's histogram bucket
    version: str = ""  # an extension event's version


@dataclass
class Tally:
    """How the records of a batch were read."""

    records: int = 0
    events: int = 0  # extension events
    activations: int = 0
    duplicates: int = 0  # extension events whose id was seen before in the batch
    unreadable: int = 0  # records that could not be read at all
    skipped_events: int = 0  # unreadable events inside telemetry records
    ignored: int = 0  # records of other types


class Batch:
    """The records of one invocation, summed per extension in memory."""

    def __init__(self) -> None:
        self.entries: dict[str, list[Entry]] = {}
        self.tally = Tally()
        self._ids: set[str] = set()

    def add(self, shard: str, sequence: int, content: events.Content) -> None:
        self.tally.records += 1
        self.tally.skipped_events += content.skipped
        self.tally.ignored += content.ignored
        for event in content.events:
            if event.id is not None:
                if event.id in self._ids:
                    self.tally.duplicates += 1
                    continue
                self._ids.add(event.id)
            self._add(event.extension, Entry(shard, sequence, event.type, _day(event.at), version=event.version))
            self.tally.events += 1
        for found in content.activations:
            self._add(found.extension, Entry(shard, sequence, ACTIVATION, _day(found.at),
                                             measures.bucket(found.milliseconds)))
            self.tally.activations += 1

    def unreadable(self) -> None:
        self.tally.records += 1
        self.tally.unreadable += 1

    def _add(self, extension: str, entry: Entry) -> None:
        found = self.entries.get(extension)
        if found is None:
            self.entries[extension] = [entry]
        else:
            found.append(entry)

    @property
    def extensions(self) -> list[str]:
        return list(self.entries)

    def first_sequence(self, extension: str) -> int:
        """The earliest record of the batch with something for ``extension``."""
        return min(e.sequence for e in self.entries[extension])


def _day(moment: datetime) -> int:
    return measures.epoch_day(moment)


@dataclass
class Change:
    """One write to an extension's item: counters to add and the new maps, conditional on ``expected``."""

    extension: str
    expected: int | None  # the revision read; None: the item has none yet
    added: dict[str, int]  # counter attribute -> events to add
    state: ItemState  # the new days, versions, activations, watermarks and revision
    events: int = 0
    activations: int = 0
    entries: list[Entry] = field(default_factory=list, repr=False)

    @property
    def counts_changed(self) -> bool:
        """Whether what the gallery shows changed (activations are not shown)."""
        return any(self.added.values())


def plan(extension: str, state: ItemState, entries: Iterable[Entry], today: int) -> Change | None:
    """The write that applies ``entries`` to an item in ``state``, as of day ``today``; None when there is
    nothing to write (every entry is below its shard's watermark, or only activations of an extension the
    marketplace does not know)."""
    fresh = [e for e in entries if e.sequence > state.watermarks.get(e.shard, (-1, 0))[0]]
    if not fresh:
        return None
    counted = [e for e in fresh if e.kind != ACTIVATION]
    activations = [e for e in fresh if e.kind == ACTIVATION]
    if not counted and not state.known:
        return None
    revision = (state.revision or 0) + 1
    oldest_day = today - measures.DAYS_KEPT + 1
    days = {d: dict(c) for d, c in state.days.items() if d >= oldest_day}
    versions = {v: VersionEvents(dict(e.counts), e.revision) for v, e in state.versions.items()}
    last_record: dict[str, int] = {}  # version -> its latest record in this write
    added: dict[str, int] = {}
    for entry in counted:
        attribute = COUNTER[entry.kind]
        added[attribute] = added.get(attribute, 0) + 1
        code = CODE[entry.kind]
        day = min(entry.day, today)  # a clock ahead of ours counts today
        if day >= oldest_day:
            counts = days.setdefault(day, {})
            counts[code] = counts.get(code, 0) + 1
        if entry.version:
            events_of = versions.setdefault(entry.version, VersionEvents())
            events_of.counts[code] = events_of.counts.get(code, 0) + 1
            events_of.revision = revision
            last_record[entry.version] = max(entry.sequence, last_record.get(entry.version, -1))
    if len(versions) > MAX_VERSIONS:
        versions = _most_recent(versions, last_record)
    oldest_activation = today - measures.ACTIVATION_DAYS_KEPT + 1
    per_day = {d: DayActivations(a.count, dict(a.histogram)) for d, a in state.activations.items()
               if d >= oldest_activation}
    for entry in activations:
        day = min(entry.day, today)
        if day >= oldest_activation:
            found = per_day.setdefault(day, DayActivations())
            found.count += 1
            found.histogram[entry.bucket] = found.histogram.get(entry.bucket, 0) + 1
    watermarks = {s: w for s, w in state.watermarks.items() if w[1] > today - WATERMARK_DAYS}
    for entry in fresh:
        current = watermarks.get(entry.shard)
        watermarks[entry.shard] = (max(entry.sequence, current[0]) if current else entry.sequence, today)
    new = ItemState(revision=revision, counters=state.counters, rating_count=state.rating_count,
                    days=days, activations=per_day, watermarks=watermarks, versions=versions)
    return Change(extension, state.revision, added, new, events=len(counted), activations=len(activations),
                  entries=fresh)


def _most_recent(versions: dict[str, VersionEvents], last_record: dict[str, int]) -> dict[str, VersionEvents]:
    """The ``MAX_VERSIONS`` versions whose events were counted most recently (``stats.item``: ``ver``)."""

    def recency(version: str) -> tuple[int, int, int, str]:
        found = versions[version]
        return found.revision, last_record.get(version, -1), sum(found.counts.values()), version

    kept = sorted(versions, key=recency, reverse=True)[:MAX_VERSIONS]
    return {version: versions[version] for version in sorted(kept)}
