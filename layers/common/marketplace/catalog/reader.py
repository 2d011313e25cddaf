"""Authoritative reads of the catalog for the gallery and search: an extension, its versions and its
statistics, as ``catalog.model`` views.

One strongly consistent Query per extension returns the summary item and every version item (they share
the partition key); statistics come from one BatchGet on the statistics table for all extensions asked.
A just-published version is installable at once, and an unpublished one is gone at once, whatever the
search snapshot says. ``scan_all`` reads the whole table for a rebuild of the search snapshot.

Items are read with the plain DynamoDB client and decoded by ``catalog.rows``: the gallery's cold start does
not load pynamodb, which ``catalog.store`` (the writers) keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from marketplace.catalog import keys
from marketplace.catalog.ids import EXTENSION_ID
from marketplace.catalog.keys import EXTENSION_SK, extension_key, uuid_key
from marketplace.catalog.model import ExtensionView, from_items
from marketplace.catalog.rows import ControlRow, ExtensionRow, PointerRow, VersionRow, decode
from marketplace.platform import aws, batch_items
from marketplace.platform.config import location
from marketplace.platform.resources import EXTENSIONS_TABLE, GSI1
from marketplace.platform.retry import Backoff
from marketplace.stats.totals import totals_for

MAX_LOOKUPS = 1000  # ids or UUIDs in one request (an editor checking updates names every installed extension)
PARALLEL_QUERIES = 16  # Queries in flight at once when many extensions are asked for
READ_BACKOFF = Backoff(attempts=7, base=0.1)  # BatchGetItem's unprocessed keys, asked again


def _ddb() -> Any:
    return aws.client("dynamodb")


def _pages(operation: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The items of every page of a Query or Scan of the extensions table, as DynamoDB returns them."""
    request = {"TableName": location(EXTENSIONS_TABLE), **request}
    while True:
        page = getattr(_ddb(), operation)(**request)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return
        request["ExclusiveStartKey"] = start


def _partition(pk: str, *, consistent: bool) -> Iterator[dict[str, Any]]:
    return _pages("query", {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}},
                            "ConsistentRead": consistent})


def _items(extension_id: str) -> tuple[ExtensionRow | None, list[VersionRow]]:
    summary: ExtensionRow | None = None
    versions: list[VersionRow] = []
    for raw in _partition(extension_key(extension_id), consistent=True):
        if raw.get("sk", {}).get("S") == EXTENSION_SK:
            summary = decode(ExtensionRow, raw)
        elif keys.is_version(raw.get("sk", {}).get("S", "")):
            versions.append(decode(VersionRow, raw))
    return summary, versions


def rows(extension_id: str) -> tuple[ExtensionRow | None, list[VersionRow]]:
    """The extension's summary and every version item, unpublished ones too (the website's version history)."""
    return _items(extension_id.lower())


def get_extension(extension_id: str) -> ExtensionRow | None:
    """The extension's summary item (consistent read), ``None`` when it does not exist."""
    answer = _ddb().get_item(TableName=location(EXTENSIONS_TABLE), Key=keys.summary_key(extension_id),
                             ConsistentRead=True)
    item = answer.get("Item")
    return decode(ExtensionRow, item) if item else None


def display_name(extension_id: str) -> str | None:
    """What editors show for ``extension_id`` (a deprecation's replacement); ``None`` when there is none."""
    item = get_extension(extension_id) if EXTENSION_ID.fullmatch(extension_id) else None
    return (item.display_name or item.name) if item is not None else None


def control_entries() -> list[ControlRow]:
    """Every extension the control manifest names (docs/protocols/vscode-gallery.md A8)."""
    return [decode(ControlRow, raw) for raw in _partition(keys.CONTROL_PK, consistent=False)]


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
    wanted = [u for u in dict.fromkeys(u.strip().lower() for u in uuids) if u][:MAX_LOOKUPS]
    if not wanted:
        return []
    found = batch_items.get_items(_ddb(), location(EXTENSIONS_TABLE),
                                  [{"pk": {"S": uuid_key(u)}, "sk": {"S": EXTENSION_SK}} for u in wanted],
                                  READ_BACKOFF, "the extensions table kept keys unprocessed")
    return [decode(PointerRow, raw).extension_id for raw in found]


def extensions_in_namespace(namespace: str) -> list[ExtensionRow]:
    """Every extension summary of ``namespace`` (hidden ones too), by name. Read from the gsi1 index, which
    is eventually consistent: an extension created a moment ago may be missing."""
    pages = _pages("query", {"IndexName": GSI1.name, "KeyConditionExpression": "gsi1pk = :ns",
                             "ExpressionAttributeValues": {":ns": {"S": keys.namespace_key(namespace)}}})
    return [item for item in (decode(ExtensionRow, raw) for raw in pages) if item.sk == EXTENSION_SK]


def load_all(extension_ids: Sequence[str], *, with_statistics: bool = True) -> list[ExtensionView]:
    """``load_many`` for any number of ids, ``MAX_LOOKUPS`` at a time."""
    wanted = list(dict.fromkeys(i.lower() for i in extension_ids))
    views: list[ExtensionView] = []
    for start in range(0, len(wanted), MAX_LOOKUPS):
        views += load_many(wanted[start:start + MAX_LOOKUPS], with_statistics=with_statistics)
    return views


def _scan() -> Iterator[tuple[ExtensionRow, list[VersionRow]]]:
    """Every extension of the table with its version items (one pass; an extension's items are gathered
    before it is yielded)."""
    summaries: dict[str, ExtensionRow] = {}
    versions: dict[str, list[VersionRow]] = {}
    for raw in _pages("scan", {}):
        pk, sk = raw.get("pk", {}).get("S", ""), raw.get("sk", {}).get("S", "")
        if not pk.startswith(keys.EXTENSION_PREFIX):
            continue
        if sk == EXTENSION_SK:
            summaries[pk] = decode(ExtensionRow, raw)
        elif keys.is_version(sk):
            versions.setdefault(pk, []).append(decode(VersionRow, raw))
    for pk, summary in summaries.items():
        yield summary, versions.get(pk, [])


def scan_all() -> Iterator[ExtensionView]:
    """Every extension in the table with every version and its statistics (``marketplace search rebuild``):
    one Scan, the statistics read ``MAX_LOOKUPS`` extensions at a time."""
    batch: list[tuple[ExtensionRow, list[VersionRow]]] = []

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


def versions_with_sha256(sha256: str) -> list[VersionRow]:
    """The version items whose package has this SHA-256, unpublished ones too (a filtered Scan of the whole
    table: for the operator's rare ``marketplace scan block-hash``, never a request path)."""
    pages = _pages("scan", {"FilterExpression": "#sha = :sha", "ExpressionAttributeNames": {"#sha": "sha256"},
                            "ExpressionAttributeValues": {":sha": {"S": sha256}}})
    return [decode(VersionRow, raw) for raw in pages if keys.is_version(raw.get("sk", {}).get("S", ""))]


def published_versions() -> Iterator[VersionRow]:
    """Every version item still published (a Scan: for the operator's retroactive checks, never a request
    path)."""
    for raw in _pages("scan", {}):
        if keys.is_version(raw.get("sk", {}).get("S", "")):
            row = decode(VersionRow, raw)
            if row.unpublished_at is None:
                yield row
