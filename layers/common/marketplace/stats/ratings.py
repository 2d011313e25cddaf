"""The rating counters of an extension's statistics item (``rating_sum``, ``rating_count``; ``stats.item``)
for the reviews function, which adds to them in the transaction that changes a review and reads them back.
Plain client: nothing else of the stats function is loaded."""

from __future__ import annotations

from typing import Any

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.stats import item


def rating_update(extension_id: str, total: int, count: int) -> dict[str, Any]:
    """A ``TransactWriteItems`` element adding ``total`` to ``rating_sum`` and ``count`` to ``rating_count``."""
    return {"Update": {
        "TableName": location(STATISTICS_TABLE),
        "Key": item.key(extension_id.lower()),
        "UpdateExpression": "ADD rating_sum :sum, rating_count :count",
        "ExpressionAttributeValues": {":sum": {"N": str(total)}, ":count": {"N": str(count)}},
    }}


def rating_totals(extension_id: str) -> tuple[int, int]:
    """The extension's ``rating_sum`` and ``rating_count`` (consistent read; zeros when none)."""
    answer = aws.client("dynamodb").get_item(
        TableName=location(STATISTICS_TABLE), Key=item.key(extension_id.lower()),
        ProjectionExpression="rating_sum, rating_count", ConsistentRead=True)
    found = answer.get("Item") or {}
    return item.number(found.get("rating_sum")), item.number(found.get("rating_count"))
