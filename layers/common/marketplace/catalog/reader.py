"""Authoritative reads of the catalog for the gallery and search: an extension, its versions and its
statistics, as ``catalog.model`` views.

One strongly consistent Query per extension returns the summary item and every version item (they share
the partition key); statistics come from one BatchGet on the statistics table for all extensions asked.
A just-published version is installable at once, and an unpublished one is gone at once, whatever the
search snapshot says. ``scan_all`` reads the whole table for a rebuild of the search snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from marketplace.catalog import keys
from marketplace.catalog.keys import EXTENSION_SK, extension_key, uuid_key
from marketplace.catalog.model import ExtensionView, from_items
from marketplace.catalog.store import CatalogItem, ExtensionItem, UuidPointer, VersionItem
from marketplace.platform.dynamo import bind
from marketplace.platform.resources import EXTENSIONS_TABLE, GSI1
from marketplace.stats.store import totals_for

MAX_LOOKUPS = 1000  # ids or UUIDs in one request (an editor checking updates names every installed extension)
PARALLEL_QUERIES = 16  # Queries in flight at once when many extensions are asked for


def _items(extension_id: str) -> tuple[ExtensionItem | None, list[VersionItem]]:
    connection = bind(CatalogItem, EXTENSIONS_TABLE)._get_connection()
    summary: ExtensionItem | None = None
    versions: list[VersionItem] = []
    start: dict[str, Any] | None = None
    while True:
        page = connection.query(extension_key(extension_id), consistent_read=True, exclusive_start_key=start)
        for raw in page.get("Items", []):
            if raw.get("sk", {}).get("S") == EXTENSION_SK:
                summary = bind(ExtensionItem, EXTENSIONS_TABLE).from_raw_data(raw)
            elif keys.is_version(raw.get("sk", {}).get("S", "")):
                versions.append(bind(VersionItem, EXTENSIONS_TABLE).from_raw_data(raw))
        start = page.get("LastEvaluatedKey")
        if not start:
            return summary, versions


def load(extension_id: str, *, with_statistics: bool = True) -> ExtensionView | None:
    """The extension with every published version, or ``None`` when it does not exist."""
    found = load_many([extension_id], with_statistics=with_statistics)
    return found[0] if found else None


def load_many(extension_ids: Sequence[str], *, with_statistics: bool = True) -> list[ExtensionView]:
    """The extensions that exist among ``extension_ids`` (lower-cased, de-duplicated), in the order asked."""
    wanted = list(dict.fromkeys(i.lower() for i in extension_ids))[:MAX_LOOKUPS]
    if len(wanted) > 1:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_QUERIES, len(wanted))) as pool:
            found = list(pool.map(_items, wanted))
    else:
        found = [_items(i) for i in wanted]
    loaded = [(summary, versions) for summary, versions in found if summary is not None]
    totals = totals_for([s.extension_id for s, _ in loaded]) if with_statistics and loaded else {}
    return [from_items(s, v, totals.get(s.extension_id)) for s, v in loaded]


def ids_for_uuids(uuids: Iterable[str]) -> list[str]:
    """The extension ids the given UUIDs (``extensionId`` in gallery responses) point to."""
    keys = [(uuid_key(u), EXTENSION_SK) for u in dict.fromkeys(u.strip().lower() for u in uuids) if u][:MAX_LOOKUPS]
    if not keys:
        return []
    model = bind(UuidPointer, EXTENSIONS_TABLE)  # batch_get sends 100 keys per call
    return [pointer.extension_id for pointer in model.batch_get(keys, consistent_read=True)]


class _ByNamespace(GlobalSecondaryIndex[ExtensionItem]):
    class Meta:
        index_name = GSI1.name
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class _NamespacedExtension(ExtensionItem):
    """An extension summary as the gsi1 index (``NS#<namespace>`` / ``EXT#<name>``) returns it."""

    by_namespace = _ByNamespace()


def extensions_in_namespace(namespace: str) -> list[ExtensionItem]:
    """Every extension summary of ``namespace`` (hidden ones too), by name. Read from the gsi1 index, which
    is eventually consistent: an extension created a moment ago may be missing."""
    model = bind(_NamespacedExtension, EXTENSIONS_TABLE)
    return [item for item in model.by_namespace.query(keys.namespace_key(namespace)) if item.sk == EXTENSION_SK]


def load_all(extension_ids: Sequence[str], *, with_statistics: bool = True) -> list[ExtensionView]:
    """``load_many`` for any number of ids, ``MAX_LOOKUPS`` at a time."""
    wanted = list(dict.fromkeys(i.lower() for i in extension_ids))
    views: list[ExtensionView] = []
    for start in range(0, len(wanted), MAX_LOOKUPS):
        views += load_many(wanted[start:start + MAX_LOOKUPS], with_statistics=with_statistics)
    return views


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
            if not pk.startswith(keys.EXTENSION_PREFIX):
                continue
            if sk == EXTENSION_SK:
                summaries[pk] = extension_model.from_raw_data(raw)
            elif keys.is_version(sk):
                versions.setdefault(pk, []).append(version_model.from_raw_data(raw))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    for pk, summary in summaries.items():
        yield summary, versions.get(pk, [])


def scan_all() -> Iterator[ExtensionView]:
    """Every extension in the table with every version and its statistics (``marketplace search rebuild``):
    one Scan, the statistics read ``MAX_LOOKUPS`` extensions at a time."""
    batch: list[tuple[ExtensionItem, list[VersionItem]]] = []

    def flush() -> Iterator[ExtensionView]:
        totals = totals_for([s.extension_id for s, _ in batch]) if batch else {}
        for summary, versions in batch:
            yield from_items(summary, versions, totals.get(summary.extension_id))
        batch.clear()

    for item in _scan():
        batch.append(item)
        if len(batch) == MAX_LOOKUPS:
            yield from flush()
    yield from flush()
