"""Reading statistics items in bulk: what the stats consumer reads before it writes, and what the catalog joins
onto its extensions. A module of its own so that the readers (the gallery, search) do not load the writer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marketplace.platform import aws, batch_items
from marketplace.platform.config import location
from marketplace.platform.resources import STATISTICS_TABLE
from marketplace.platform.retry import Backoff
from marketplace.stats import item

READ_BACKOFF = Backoff(attempts=7, base=0.1)  # BatchGetItem's unprocessed keys, asked again


def read_items(extensions: Iterable[str], *, consistent: bool = True,
               projection: str | None = None, names: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The statistics items of ``extensions`` that exist, in DynamoDB's JSON form (BatchGetItem, 100 keys a
    call, unprocessed keys asked again)."""
    table = location(STATISTICS_TABLE)
    keys = [item.key(e) for e in dict.fromkeys(extensions)]
    found = batch_items.get_items(aws.client("dynamodb"), table, keys, READ_BACKOFF,
                                  "the statistics table kept keys unprocessed", consistent=consistent,
                                  projection=projection, names=names)
    return {item.extension_of(raw): raw for raw in found}
