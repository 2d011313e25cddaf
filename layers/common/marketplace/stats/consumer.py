"""The stats function's batch processing: a Kinesis batch summed in memory, each extension's statistics written
once.

The records are read one by one (``read_record``: decode and parse, never raising for bad data); then,
instead of handling each record on its own, the processor sums the whole batch in memory and writes each
extension's statistics item once (``writer.apply``), and touches the catalog items of extensions whose counts
changed (``writer.Toucher``). Partial failures are reported the way Kinesis needs them
(``platform.batch.partial_response``): the first record not applied is the batch item failure, so Lambda
retries from it; records before it that belong to extensions already written are below those items'
watermarks and are not counted again (``aggregate``). A batch in which that is the only record fails as a
whole (``BatchFailed``), which lets Lambda bisect it; after the retries the event source sends the batch's
description to the stats DLQ.

Unreadable records (not JSON, or an extension event with a bad field) are skipped, logged with their
sequence number and counted in the ``UnreadableRecords`` metric: retrying cannot make them readable, and
holding the shard for them would stop every statistic behind them until the retries ran out. The record
itself is kept: the data lake's copy of the stream holds every record.

Records are plain dicts and the partial response is the platform's helper, like the other two consumers:
``bench/batch_strategy.py`` measures the candidates (``./dev bench --only batch-strategy``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from marketplace.platform.batch import partial_response
from marketplace.stats import events, measures, writer
from marketplace.stats.aggregate import Batch

Record = Mapping[str, Any]  # one record of a Kinesis event, as Lambda delivers it


@dataclass(frozen=True)
class Read:
    """A record as read: where it is in its shard, and what it holds (None: unreadable, and why)."""

    shard: str
    sequence: int
    content: events.Content | None
    error: str | None = None


def read_record(record: Record) -> Read:
    """Parse one record; only a record without a shard position raises (it cannot be placed or skipped)."""
    shard = str(record.get("eventID") or "").partition(":")[0]
    kinesis = record["kinesis"]
    sequence = int(kinesis["sequenceNumber"])
    try:
        return Read(shard, sequence, events.read(base64.b64decode(kinesis["data"])))
    except (events.InvalidEvent, ValueError) as error:  # ValueError: bad base64 too
        return Read(shard, sequence, None, str(error))


def sequence_number(record: Record) -> str:
    """The record's ``itemIdentifier`` in a partial batch response."""
    kinesis = record.get("kinesis")
    return str(kinesis.get("sequenceNumber", "")) if isinstance(kinesis, Mapping) else ""


class StatsProcessor:
    """Sums a Kinesis batch and writes once per extension; answers Lambda's partial batch response."""

    def __init__(self, logger: Logger, metrics: Metrics, clock: Callable[[], float] = time.time,
                 catalog: writer.CatalogTouch | None = None) -> None:
        self.log = logger
        self.metrics = metrics
        self.clock = clock
        self.toucher = writer.Toucher(lambda: self.clock(), catalog)
        self.last: writer.Outcome | None = None  # what the last batch did (tests, benchmarks)
        self.last_batch: Batch | None = None

    def process(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Read every record, apply the readable ones up to the first that could not be read, and report."""
        records = event.get("Records")
        if not isinstance(records, list):
            raise ValueError("Invalid event format: a Kinesis batch is {\"Records\": [...]}")
        failed: list[str] = []
        reads: list[tuple[Read, Record] | None] = []
        for record in records:
            try:
                reads.append((read_record(record), record))
            except Exception as error:
                self.log.exception("record failed", extra={"record": sequence_number(record),
                                                           "error_type": type(error).__name__})
                failed.append(sequence_number(record))
                reads.append(None)
        not_applied = self._apply(reads)
        if not_applied is not None:
            failed.append(not_applied)
        return partial_response(failed, len(records))

    def _apply(self, reads: list[tuple[Read, Record] | None]) -> str | None:
        """Write the batch; the sequence number of the first record not applied, if any."""
        batch = Batch()
        records: dict[int, Record] = {}
        for entry in reads:
            if entry is None:  # the reader itself failed: the records after it wait for its retry
                break
            read, raw = entry
            records.setdefault(read.sequence, raw)
            if read.content is None:
                batch.unreadable()
                self.log.warning("unreadable record skipped",
                                 extra={"shard": read.shard, "sequence": str(read.sequence), "error": read.error})
                continue
            batch.add(read.shard, read.sequence, read.content)
        outcome = writer.apply(batch, measures.day_of_timestamp(self.clock()))
        self.last, self.last_batch = outcome, batch
        not_applied: str | None = None
        if outcome.failed:
            first = min(outcome.failed, key=batch.first_sequence)
            error = outcome.failed[first]
            self.log.warning("statistics not written; the batch is retried from the first record not applied",
                             extra={"extensions": sorted(outcome.failed)[:20], "error": repr(error)})
            not_applied = sequence_number(records[batch.first_sequence(first)])
        touched = self.toucher.touch(c.extension for c in outcome.written if c.counts_changed)
        tally = batch.tally
        for name, value in (("EventsCounted", sum(c.events for c in outcome.written)),
                            ("ActivationsCounted", sum(c.activations for c in outcome.written)),
                            ("UnreadableRecords", tally.unreadable), ("SkippedTelemetryEvents", tally.skipped_events),
                            ("DuplicateEvents", tally.duplicates), ("IgnoredActivations", outcome.ignored_activations),
                            ("StatisticsWrites", outcome.writes), ("WriteConflicts", outcome.conflicts),
                            ("IndexTouches", touched)):
            if value:
                self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return not_applied
