"""Data access of reviews: the reviews table, the rating totals on the statistics table (``stats.ratings``),
and the two reads of the catalog a review needs (``catalog.table``).

Reviews table, one item per user per extension:

============================ ======================== ======================= =====================
pk                           sk                       gsi1pk                  gsi1sk
============================ ======================== ======================= =====================
``EXT#<publisher.name>``     ``REVIEW#<user id>``     ``USER#<user id>``      ``EXT#<publisher.name>``
============================ ======================== ======================= =====================

(ids lower-cased; the user id is ``Principal.user_id``, a hash: no token and no provider's raw id is
stored). The index keys let one user's reviews be listed (a user's data export or erasure) without a scan.

Every item carries a random ``token`` replaced on each write. A write names the token it read (or that no
item existed), and changes the extension's ``rating_sum``/``rating_count`` on the statistics table's totals
item (``stats.ratings.rating_update``) with ``ADD`` in the same ``TransactWriteItems``: the delta is computed from the
review as read, so it is right exactly when the condition holds, and concurrent writers can neither lose nor
double an update. Hidden reviews do not count.

The low-level client is used rather than pynamodb: one cross-table transaction whose cancellation reasons
decide between "changed under us" and "busy", and a handler that stays light to import.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from marketplace.catalog import table as catalog
from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import REVIEWS_TABLE
from marketplace.stats import ratings

logger = logging.getLogger(__name__)

REVIEW_PREFIX = "REVIEW#"
BUSY_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
BUSY_ERRORS = frozenset({"TransactionConflictException", "TransactionInProgressException",
                         "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})


def extension_key(extension_id: str) -> str:
    """The partition of an extension's reviews in the reviews table."""
    return f"EXT#{extension_id.lower()}"


@dataclass(frozen=True)
class StoredReview:
    extension_id: str
    user_id: str
    display_name: str
    provider: str
    rating: int
    title: str | None
    comment: str | None
    version: str
    created_at: str  # ISO 8601 UTC with milliseconds and ``Z``
    updated_at: str
    hidden: bool = False
    hidden_reason: str | None = None
    hidden_at: str | None = None
    token: str = ""  # the write that made this state; empty on a review not yet stored

    @property
    def counted(self) -> bool:
        return not self.hidden

    def renewed(self) -> StoredReview:
        """This state with a fresh write token."""
        return replace(self, token=secrets.token_hex(8))


@dataclass(frozen=True)
class CatalogEntry:
    """What a review needs to know of an extension."""

    extension_id: str
    publisher: str
    name: str
    latest_version: str | None
    latest_prerelease: str | None
    listed: bool  # offered by the gallery: not wholly unpublished and not blocked

    @property
    def display_id(self) -> str:
        return f"{self.publisher}.{self.name}"

    @property
    def latest(self) -> str | None:
        return self.latest_version or self.latest_prerelease


class Changed(Exception):
    """The review changed between our read and our write: read again."""


class Busy(Exception):
    """DynamoDB refused for contention (a racing transaction on the same totals item, throttling): retry."""


def _ddb() -> Any:
    return aws.client("dynamodb")


def _review_key(extension_id: str, user_id: str) -> dict[str, Any]:
    return {"pk": {"S": extension_key(extension_id)}, "sk": {"S": f"{REVIEW_PREFIX}{user_id}"}}


def _item(review: StoredReview) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_review_key(review.extension_id, review.user_id),
        "extension_id": {"S": review.extension_id},
        "user_id": {"S": review.user_id},
        "display_name": {"S": review.display_name},
        "provider": {"S": review.provider},
        "rating": {"N": str(review.rating)},
        "version": {"S": review.version},
        "created_at": {"S": review.created_at},
        "updated_at": {"S": review.updated_at},
        "hidden": {"BOOL": review.hidden},
        "token": {"S": review.token},
        "gsi1pk": {"S": f"USER#{review.user_id}"},
        "gsi1sk": {"S": extension_key(review.extension_id)},
    }
    for name in ("title", "comment", "hidden_reason", "hidden_at"):
        value = getattr(review, name)
        if value is not None:
            item[name] = {"S": value}
    return item


def _review(item: dict[str, Any]) -> StoredReview:
    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value else None

    return StoredReview(
        extension_id=item["extension_id"]["S"],
        user_id=item["user_id"]["S"],
        display_name=item["display_name"]["S"],
        provider=item["provider"]["S"],
        rating=int(item["rating"]["N"]),
        title=text("title"),
        comment=text("comment"),
        version=item["version"]["S"],
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        hidden=bool(item.get("hidden", {}).get("BOOL", False)),
        hidden_reason=text("hidden_reason"),
        hidden_at=text("hidden_at"),
        token=item["token"]["S"],
    )


# --- reviews ---------------------------------------------------------------------------------------------


def get(extension_id: str, user_id: str) -> StoredReview | None:
    answer = _ddb().get_item(TableName=location(REVIEWS_TABLE), Key=_review_key(extension_id, user_id),
                             ConsistentRead=True)
    item = answer.get("Item")
    return _review(item) if item else None


def reviews_of(extension_id: str, *, consistent: bool = True) -> list[StoredReview]:
    """Every review of the extension, hidden ones included, in one Query (paged); consistent unless the reader
    only shows them (the website: half the read units, a second behind at most)."""
    request: dict[str, Any] = {
        "TableName": location(REVIEWS_TABLE),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": extension_key(extension_id)}, ":prefix": {"S": REVIEW_PREFIX}},
        "ConsistentRead": consistent,
    }
    found: list[StoredReview] = []
    while True:
        answer = _ddb().query(**request)
        found += [_review(item) for item in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            return found
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def rating_delta(before: StoredReview | None, after: StoredReview | None) -> tuple[int, int]:
    """How ``rating_sum`` and ``rating_count`` change when ``before`` becomes ``after`` (``None``: no review)."""
    old = before.rating if before is not None and before.counted else None
    new = after.rating if after is not None and after.counted else None
    return (new or 0) - (old or 0), (new is not None) - (old is not None)


def commit(before: StoredReview | None, after: StoredReview | None) -> None:
    """Replace ``before`` (as read; ``None``: there was no review) by ``after`` (``None``: delete it), and move
    the extension's rating totals by the difference, in one transaction. Raises ``Changed`` when the review
    is no longer ``before``, ``Busy`` on contention."""
    current = after or before
    if current is None:
        return
    review_operation: dict[str, Any]
    condition: dict[str, Any]
    if before is None:
        condition = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {"ConditionExpression": "#token = :token", "ExpressionAttributeNames": {"#token": "token"},
                     "ExpressionAttributeValues": {":token": {"S": before.token}}}
    if after is None:
        review_operation = {"Delete": {"TableName": location(REVIEWS_TABLE),
                                       "Key": _review_key(current.extension_id, current.user_id), **condition}}
    else:
        review_operation = {"Put": {"TableName": location(REVIEWS_TABLE), "Item": _item(after), **condition}}
    operations: list[dict[str, Any]] = [review_operation]
    total, count = rating_delta(before, after)
    if total or count:
        operations.append(ratings.rating_update(current.extension_id, total, count))
    try:
        _ddb().transact_write_items(TransactItems=operations)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = [str(r.get("Code") or "None") for r in error.response.get("CancellationReasons") or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise Changed(current.user_id) from error
            if any(reason in BUSY_REASONS for reason in reasons):
                raise Busy(", ".join(reasons)) from error
            if not reasons:  # emulators may leave the reasons out; the only condition is the review's
                raise Changed(current.user_id) from error
        if code in BUSY_ERRORS:
            raise Busy(code) from error
        raise
    if total or count:
        _touch_for_search(current.extension_id)


def _touch_for_search(extension_id: str) -> None:
    """Touch the extension's catalog item, so the search indexer re-reads it with its new rating. Best
    effort: the review is stored and counted whatever happens here (the next touch or a rebuild catches up)."""
    try:
        catalog.touch(extension_id, time.time())
    except ClientError as error:
        logger.warning("could not touch %s for the search index: %s", extension_id,
                       error.response.get("Error", {}).get("Code"))


def rating_totals(extension_id: str) -> tuple[int, int]:
    """The extension's ``rating_sum`` and ``rating_count`` (consistent read; zeros when none)."""
    return ratings.rating_totals(extension_id)


# --- the catalog (read only) -----------------------------------------------------------------------------


def catalog_entry(extension_id: str) -> CatalogEntry | None:
    """The extension's summary (``catalog.table.summary``), ``None`` when it does not exist."""
    found = catalog.summary(extension_id)
    if found is None:
        return None
    return CatalogEntry(extension_id=found.extension_id, publisher=found.publisher, name=found.name,
                        latest_version=found.latest_version, latest_prerelease=found.latest_prerelease,
                        listed=not found.unpublished and not found.malicious)


def published_versions(extension_id: str, version: str) -> Sequence[str]:
    """The target platforms ``version`` of the extension is published (not withdrawn) for."""
    return catalog.published_targets(extension_id, version)
