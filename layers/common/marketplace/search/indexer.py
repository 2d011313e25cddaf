"""Keeping the search snapshot current: from the extensions table's stream (the search indexer), or from a
scan of the whole table (``marketplace search rebuild``: the first snapshot, and recovery).

A stream record only says *which* extension changed: the indexer reads that extension again from the table
(``catalog.reader``: every version and the statistics, strongly consistent), so records may arrive
duplicated, late or out of order and the snapshot still ends up with what the table holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from marketplace.catalog import reader
from marketplace.catalog.store import EXTENSION_SK, CatalogItem, ExtensionItem, VersionItem
from marketplace.gallery.model import from_items
from marketplace.platform.dynamo import bind
from marketplace.platform.resources import EXTENSIONS_TABLE
from marketplace.search import snapshot
from marketplace.search.analysis import Document
from marketplace.search.encoding import document_of, searchable, segment_of
from marketplace.stats.store import totals_for

EXTENSION_PREFIX = "EXT#"
CHUNK = reader.MAX_LOOKUPS

logger = logging.getLogger(__name__)


def changed_extension(keys: Mapping[str, Any] | None) -> str | None:
    """The extension a stream record is about, or None for anything that does not change search (version
    items, UUID pointers, control entries)."""
    if not keys or keys.get("sk") != EXTENSION_SK:
        return None
    pk = str(keys.get("pk", ""))
    if not pk.startswith(EXTENSION_PREFIX) or len(pk) == len(EXTENSION_PREFIX):
        return None
    return pk[len(EXTENSION_PREFIX):].lower()


def _documents(extension_ids: list[str]) -> dict[str, Document | None]:
    """Each extension's document as the table has it now (None: not searchable, or gone)."""
    views = {v.extension_id: v for v in reader.load_many(extension_ids)}
    return {i: document_of(views[i]) if searchable(views.get(i)) else None for i in extension_ids}


def index(extension_ids: Iterable[str]) -> dict[str, Exception]:
    """Bring the snapshot up to date for these extensions: each touched segment is rewritten once. Returns
    the extensions that could not be indexed, with why."""
    wanted = list(dict.fromkeys(i.lower() for i in extension_ids))
    failed: dict[str, Exception] = {}
    changes: dict[int, dict[str, Document | None]] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        try:
            documents = _documents(chunk)
        except Exception as error:  # the rest of the batch still goes through; these are retried
            failed.update(dict.fromkeys(chunk, error))
            continue
        for extension_id, document in documents.items():
            changes.setdefault(segment_of(extension_id), {})[extension_id] = document
    for segment, why in snapshot.apply(changes).items():
        failed.update(dict.fromkeys(changes[segment], why))
    return failed


# ------------------------------------------------------------------------------------------ rebuild


def _scan() -> Iterator[tuple[ExtensionItem, list[VersionItem]]]:
    """Every extension of the table with its version items (one pass; an extension's items are gathered
    before it is yielded)."""
    connection = bind(CatalogItem, EXTENSIONS_TABLE)._get_connection()
    extension_model, version_model = bind(ExtensionItem, EXTENSIONS_TABLE), bind(VersionItem, EXTENSIONS_TABLE)
    summaries: dict[str, ExtensionItem] = {}
    versions: dict[str, list[VersionItem]] = {}
    start: dict[str, Any] | None = None
    while True:
        page = connection.scan(exclusive_start_key=start)  # type: ignore[arg-type]  # pynamodb says str; it is the key
        for raw in page.get("Items", []):
            pk, sk = raw.get("pk", {}).get("S", ""), raw.get("sk", {}).get("S", "")
            if not pk.startswith(EXTENSION_PREFIX):
                continue
            if sk == EXTENSION_SK:
                summaries[pk] = extension_model.from_raw_data(raw)
            elif sk.startswith("VERSION#"):
                versions.setdefault(pk, []).append(version_model.from_raw_data(raw))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    for pk, summary in summaries.items():
        yield summary, versions.get(pk, [])


def scan_documents() -> Iterator[Document]:
    """The document of every searchable extension in the table, with its statistics."""
    batch: list[tuple[ExtensionItem, list[VersionItem]]] = []

    def flush() -> Iterator[Document]:
        totals = totals_for([s.extension_id for s, _ in batch])
        for summary, versions in batch:
            view = from_items(summary, versions, totals.get(summary.extension_id))
            if searchable(view):
                yield document_of(view)
        batch.clear()

    for item in _scan():
        batch.append(item)
        if len(batch) == CHUNK:
            yield from flush()
    yield from flush()


SKEW_MICROSECONDS = 60 * 1_000_000  # clocks of the writers may differ this much


def rebuild() -> snapshot.Manifest:
    """Write the whole snapshot from a scan of the table. Extensions the indexer changed while the scan ran
    keep the indexer's (newer) copy."""
    started = time.time_ns() // 1000 - SKEW_MICROSECONDS
    return snapshot.replace_all(scan_documents(), started)
