"""The stats function's writes: each extension's statistics item once per batch, and a touch of the extension's
catalog item so that the search index picks the new numbers up.

Per batch: one consistent ``BatchGetItem`` per 100 extensions reads the items; ``aggregate.plan`` turns what
the batch holds for an extension into one change; one ``UpdateItem`` writes it: ``ADD`` to the counters (the
reviews function adds to the rating counters of the same item), ``SET`` of the per-day and per-version maps
and the watermarks, on the condition that ``rev`` is still what was read. When another writer got there first
(a batch of another shard about the same extension), the item is read again and the change planned again.

Touches: the search index is kept from the extensions table's stream, and statistics live in another table.
After writing new counts, the function touches the extension's catalog item (``catalog.table.touch_if_due``)
if it was not touched in the last ``STATS_INDEX_TOUCH_SECONDS`` (default 60): the stream record makes the
search indexer read the extension again, statistics included. A touch the
interval holds back is owed: the function keeps the extension in memory and touches it at its first
invocation after the interval, so a burst's last counts reach the index too (an owed touch is lost only
with the execution environment; the next count or ``marketplace search rebuild`` catches up). Touches need
write access to the extensions table; without it they are skipped with a warning. The catalog reads
statistics, so this module does not import it: the handler hands the toucher the catalog (``CatalogTouch``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from marketplace.platform import aws
from marketplace.platform.config import location, setting_int
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.platform.retry import Backoff
from marketplace.stats import aggregate, item
from marketplace.stats.aggregate import Batch, Change
from marketplace.stats.item import ItemState
from marketplace.stats.reads import read_items

ATTEMPTS = 6  # writes of one extension's change before the batch reports it failed
WRITE_BACKOFF = Backoff(attempts=ATTEMPTS, base=0.01)  # after a conflict: read again, plan again
CONCURRENCY_SETTING = "STATS_WRITE_CONCURRENCY"
DEFAULT_CONCURRENCY = 8
TOUCH_SETTING = "STATS_INDEX_TOUCH_SECONDS"
DEFAULT_TOUCH_SECONDS = 60
MAX_OWED = 10_000

logger = logging.getLogger(__name__)


class Conflict(Exception):
    """Another writer kept changing the item while this one tried."""


@dataclass
class Outcome:
    written: list[Change] = field(default_factory=list)
    failed: dict[str, Exception] = field(default_factory=dict)  # extension -> why its change was not written
    writes: int = 0  # UpdateItem calls that succeeded
    conflicts: int = 0  # writes refused because the item changed after it was read
    ignored_activations: int = 0  # activations of extensions the marketplace never served or rated


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# ----------------------------------------------------------------------------------------- reading


def read_state(extension: str) -> ItemState:
    answer = aws.client("dynamodb").get_item(TableName=location(STATISTICS_TABLE), Key=item.key(extension),
                                             ConsistentRead=True)
    return item.state_of(answer.get("Item"))


# ----------------------------------------------------------------------------------------- writing


def write(change: Change) -> None:
    """One conditional UpdateItem; ``Conflict`` when the item's revision is no longer the one read."""
    names = {"#rev": item.REVISION, "#days": item.DAYS, "#ver": item.VERSIONS, "#act": item.ACTIVATIONS,
             "#wm": item.WATERMARKS}
    values: dict[str, Any] = {
        ":rev": {"N": str(change.state.revision)},
        ":days": item.days_value(change.state.days),
        ":ver": item.versions_value(change.state.versions),
        ":act": item.activations_value(change.state.activations),
        ":wm": item.watermarks_value(change.state.watermarks),
    }
    expression = "SET #rev = :rev, #days = :days, #ver = :ver, #act = :act, #wm = :wm"
    adds = []
    for position, (attribute, count) in enumerate(sorted(change.added.items())):
        names[f"#c{position}"] = attribute
        values[f":c{position}"] = {"N": str(count)}
        adds.append(f"#c{position} :c{position}")
    if adds:
        expression += " ADD " + ", ".join(adds)
    if change.expected is None:
        condition = "attribute_not_exists(#rev)"
    else:
        condition = "#rev = :expected"
        values[":expected"] = {"N": str(change.expected)}
    try:
        aws.client("dynamodb").update_item(
            TableName=location(STATISTICS_TABLE), Key=item.key(change.extension), UpdateExpression=expression,
            ConditionExpression=condition, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except ClientError as error:
        if _code(error) == "ConditionalCheckFailedException":
            raise Conflict(change.extension) from error
        raise


def _apply_one(extension: str, entries: list[aggregate.Entry], state: ItemState, today: int,
               outcome: Outcome, lock: threading.Lock) -> None:
    for attempt in WRITE_BACKOFF.tries():
        if attempt:
            state = read_state(extension)  # after a conflict and its pause
        change = aggregate.plan(extension, state, entries, today)
        if change is None:
            if not state.known and not any(e.kind != aggregate.ACTIVATION for e in entries):
                with lock:
                    outcome.ignored_activations += len(entries)
            return
        try:
            write(change)
        except Conflict:
            with lock:
                outcome.conflicts += 1
            continue
        with lock:
            outcome.written.append(change)
            outcome.writes += 1
        return
    raise Conflict(f"statistics of {extension} changed under every one of {ATTEMPTS} attempts")


def _concurrently(tasks: list[Callable[[], None]], on_error: Callable[[int, Exception], None]) -> None:
    """Run ``tasks``, several at a time when there are many (each is a DynamoDB round trip)."""
    workers = min(setting_int(CONCURRENCY_SETTING, DEFAULT_CONCURRENCY), len(tasks))

    def run(index: int) -> None:
        try:
            tasks[index]()
        except Exception as error:  # reported per task: the others still go through
            on_error(index, error)

    if workers <= 1:
        for index in range(len(tasks)):
            run(index)
        return
    from concurrent.futures import ThreadPoolExecutor  # about 9 ms of import: only for batches that need it

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stats-write") as pool:
        list(pool.map(run, range(len(tasks))))


def apply(batch: Batch, today: int) -> Outcome:
    """Write each extension's change of ``batch`` (at most one write per extension, plus one more for each
    time another writer changed the item in between). Extensions whose write failed are in ``failed``."""
    outcome = Outcome()
    extensions = batch.extensions
    if not extensions:
        return outcome
    states = {e: item.state_of(raw) for e, raw in read_items(extensions).items()}
    lock = threading.Lock()

    def task(extension: str) -> Callable[[], None]:
        return lambda: _apply_one(extension, batch.entries[extension], states.get(extension) or ItemState(), today,
                                  outcome, lock)

    def failed(index: int, error: Exception) -> None:
        with lock:
            outcome.failed[extensions[index]] = error

    _concurrently([task(e) for e in extensions], failed)
    return outcome


# ---------------------------------------------------------------------------------------- touching


class CatalogTouch(Protocol):
    """What the toucher needs of the catalog, which owns the extensions table (``catalog.table`` is the
    adapter the stats function's handler passes in)."""

    def configured(self) -> bool: ...

    def touch_if_due(self, extension_id: str, now: float, due: float) -> float | None: ...


class Toucher:
    """Touches extensions' catalog items, at most once per interval each, remembering the ones it owes.
    Without a ``catalog`` (or in an environment without the extensions table) nothing is touched."""

    def __init__(self, clock: Callable[[], float] = time.time, catalog: CatalogTouch | None = None) -> None:
        self.clock = clock
        self.catalog = catalog
        self.owed: dict[str, tuple[float, float]] = {}  # extension -> (when it may be touched, when it changed)
        self._lock = threading.Lock()
        self._warned = False

    def _ready(self) -> CatalogTouch | None:
        if self.catalog is not None and self.catalog.configured():
            return self.catalog
        if not self._warned:
            logger.warning("the extensions table is not set: statistics reach the search index only when the "
                           "extension changes (grant the stats function write access to the extensions table)")
            self._warned = True
        return None

    def touch(self, changed: Iterable[str]) -> int:
        """Touch the extensions whose counts just changed and those owed a touch whose time has come; the
        number touched."""
        catalog = self._ready()
        now = self.clock()
        with self._lock:
            for extension in changed:  # one already owed keeps its time: no refused attempt every batch
                when, since = self.owed.get(extension, (now, now))
                self.owed[extension] = (when, min(since, now))
            due = [(e, since) for e, (when, since) in self.owed.items() if when <= now]
        if catalog is None or not due:
            return 0
        interval = setting_int(TOUCH_SETTING, DEFAULT_TOUCH_SECONDS, minimum=0)
        touched = [0]

        def task(extension: str, since: float) -> Callable[[], None]:
            return lambda: self._touch_one(catalog, extension, since, now, interval, touched)

        def failed(index: int, error: Exception) -> None:
            logger.warning("could not touch %s for the search index: %s", due[index][0], error)
            with self._lock:  # tried again at the next invocation after the interval
                self.owed[due[index][0]] = (now + interval, due[index][1])

        _concurrently([task(e, s) for e, s in due], failed)
        with self._lock:
            while len(self.owed) > MAX_OWED:  # forget the oldest: the next count of them touches again
                self.owed.pop(next(iter(self.owed)))
        return touched[0]

    def _touch_one(self, catalog: CatalogTouch, extension: str, since: float, now: float, interval: int,
                   touched: list[int]) -> None:
        try:
            last = catalog.touch_if_due(extension, now, now - interval)
        except LookupError:  # not in the catalog: nothing to index
            with self._lock:
                self.owed.pop(extension, None)
            return
        with self._lock:
            if last is None:
                touched[0] += 1
                self.owed.pop(extension, None)
            elif last >= since:  # touched (by another instance) after the change: it is covered
                self.owed.pop(extension, None)
            else:
                self.owed[extension] = (last + interval, since)
