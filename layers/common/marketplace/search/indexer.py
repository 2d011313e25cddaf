"""Keeping the search snapshot current: from the extensions table's stream (the search indexer), or from a
scan of the whole table (``marketplace search rebuild``: the first snapshot, and recovery).

A stream record only says *which* extension changed: the indexer reads that extension again from the table
(``catalog.reader``: every version and the statistics, strongly consistent), so records may arrive
duplicated, late or out of order and the snapshot still ends up with what the table holds. Which records
name an extension, and the scan of the table, are the catalog's (``catalog.keys``, ``catalog.reader``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

from marketplace.catalog import reader
from marketplace.catalog.keys import changed_extension as changed_extension  # what a stream record is about
from marketplace.search import snapshot
from marketplace.search.analysis import Document
from marketplace.search.encoding import document_of, searchable, segment_of

CHUNK = reader.MAX_LOOKUPS

logger = logging.getLogger(__name__)


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


def scan_documents() -> Iterator[Document]:
    """The document of every searchable extension in the table, with its statistics."""
    for view in reader.scan_all():
        if searchable(view):
            yield document_of(view)


SKEW_MICROSECONDS = 60 * 1_000_000  # clocks of the writers may differ this much


def rebuild() -> snapshot.Manifest:
    """Write the whole snapshot from a scan of the table. Extensions the indexer changed while the scan ran
    keep the indexer's (newer) copy."""
    started = time.time_ns() // 1000 - SKEW_MICROSECONDS
    return snapshot.replace_all(scan_documents(), started)
