"""The stats function's batch processing, on Powertools' ``BatchProcessor`` for Kinesis.

Powertools reads the records one by one (``read_record``: decode and parse, never raising for bad data);
then, instead of handling each record on its own, the processor sums the whole batch in memory and writes
each extension's statistics item once (``writer.apply``), and touches the catalog items of extensions whose
counts changed (``writer.Toucher``). Partial failures are reported the way Kinesis needs them: the first
record not applied is the batch item failure, so Lambda retries from it; records before it that belong to
extensions already written are below those items' watermarks and are not counted again
(``aggregate``). A batch in which that is the only record fails as a whole (Powertools raises), which lets
Lambda bisect it; after the retries the event source sends the batch's description to the stats DLQ.

Unreadable records (not JSON, or an extension event with a bad field) are skipped, logged with their
sequence number and counted in the ``UnreadableRecords`` metric: retrying cannot make them readable, and
holding the shard for them would stop every statistic behind them until the retries ran out. The record
itself is kept: the data lake's copy of the stream holds every record.

Cold start: Powertools' batch module adds about 24 ms to the handler's import (420-460 ms without it, 21-24 ms
more with it, three runs on the same machine), and the function no longer imports pynamodb (the statistics
item is read and written with the plain DynamoDB client, ``stats.item``). ``./dev bench --only cold-start``
then measured the stats function at 384 ms against a 333 ms floor: 1.15x, inside the 1.5x budget (it was
1.25x before, with pynamodb and without Powertools' batch module).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from marketplace.stats import events, measures, writer
from marketplace.stats.aggregate import Batch


@dataclass(frozen=True)
class Read:
    """A record as read: where it is in its shard, and what it holds (None: unreadable, and why)."""

    shard: str
    sequence: int
    content: events.Content | None
    error: str | None = None


def read_record(record: KinesisStreamRecord) -> Read:
    """Powertools' record handler: parse one record."""
    shard = str(record.get("eventID") or "").partition(":")[0]
    sequence = int(record.kinesis.sequence_number)
    try:
        return Read(shard, sequence, events.read(record.kinesis.data_as_bytes()))
    except (events.InvalidEvent, ValueError) as error:  # ValueError: bad base64 too
        return Read(shard, sequence, None, str(error))


class StatsProcessor(BatchProcessor):
    """Powertools' Kinesis batch processor, summing the batch and writing once per extension."""

    def __init__(self, logger: Logger, metrics: Metrics, clock: Callable[[], float] = time.time,
                 catalog: writer.CatalogTouch | None = None) -> None:
        super().__init__(event_type=EventType.KinesisDataStreams, logger=logger)  # type: ignore[arg-type]
        self.log = logger
        self.metrics = metrics
        self.clock = clock
        self.toucher = writer.Toucher(lambda: self.clock(), catalog)
        self.last: writer.Outcome | None = None  # what the last batch did (tests, benchmarks)
        self.last_batch: Batch | None = None

    def process(self) -> list[tuple[Any, ...]]:
        results = super().process()
        self._apply(results)
        return results

    def _apply(self, results: list[tuple[Any, ...]]) -> None:
        batch = Batch()
        records: dict[int, dict[str, Any]] = {}
        for status, read, raw in results:
            if status != "success":  # the reader itself failed: the records after it wait for its retry
                break
            records.setdefault(read.sequence, raw)
            if read.content is None:
                batch.unreadable()
                self.log.warning("unreadable record skipped",
                                 extra={"shard": read.shard, "sequence": str(read.sequence), "error": read.error})
                continue
            batch.add(read.shard, read.sequence, read.content)
        outcome = writer.apply(batch, measures.day_of_timestamp(self.clock()))
        self.last, self.last_batch = outcome, batch
        if outcome.failed:
            first = min(outcome.failed, key=batch.first_sequence)
            error = outcome.failed[first]
            self.log.warning("statistics not written; the batch is retried from the first record not applied",
                             extra={"extensions": sorted(outcome.failed)[:20], "error": repr(error)})
            self.failure_handler(KinesisStreamRecord(records[batch.first_sequence(first)]),
                                 (type(error), error, error.__traceback__))
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
