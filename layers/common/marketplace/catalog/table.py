"""The extensions table through the plain DynamoDB client, for functions that stay light to import (reviews,
stats: neither loads pynamodb or the catalog's models): an extension's summary, the targets a version is
published for, and the touch that makes the search indexer read an extension again.

A touch sets ``keys.TOUCHED_AT`` on the summary item. The search index is kept from the extensions table's
stream and statistics live in another table: a writer of an extension's statistics (counts, ratings)
touches the item so the indexer reads the extension again, statistics included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from marketplace.catalog import keys
from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.errors import ConfigurationError
from marketplace.platform.resources import EXTENSIONS_TABLE


@dataclass(frozen=True, slots=True)
class Summary:
    """What the light paths read of an extension's summary item."""

    extension_id: str
    publisher: str  # display casing
    name: str  # display casing
    latest_version: str | None
    latest_prerelease: str | None
    unpublished: bool  # every version withdrawn by the owner
    malicious: bool  # blocked by the operator


def _ddb() -> Any:
    return aws.client("dynamodb")


def configured() -> bool:
    """Whether this function's environment names the extensions table (it is granted access)."""
    try:
        location(EXTENSIONS_TABLE)
    except ConfigurationError:
        return False
    return True


def summary(extension_id: str) -> Summary | None:
    """The extension's summary (consistent read), ``None`` when it does not exist."""
    answer = _ddb().get_item(
        TableName=location(EXTENSIONS_TABLE), Key=keys.summary_key(extension_id),
        ProjectionExpression="extension_id, publisher, #name, latest_version, latest_prerelease, unpublished, "
                             "malicious",
        ExpressionAttributeNames={"#name": "name"},
        ConsistentRead=True,
    )
    item = answer.get("Item")
    if not item:
        return None

    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value and "S" in value else None

    def flag(name: str) -> bool:
        return bool(item.get(name, {}).get("BOOL", False))

    return Summary(
        extension_id=text("extension_id") or extension_id.lower(),
        publisher=text("publisher") or extension_id.split(".", 1)[0],
        name=text("name") or extension_id.split(".", 1)[-1],
        latest_version=text("latest_version"),
        latest_prerelease=text("latest_prerelease"),
        unpublished=flag("unpublished"),
        malicious=flag("malicious"),
    )


def published_targets(extension_id: str, version: str) -> list[str]:
    """The target platforms ``version`` of the extension is published (not withdrawn, not quarantined) for."""
    request: dict[str, Any] = {
        "TableName": location(EXTENSIONS_TABLE),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": keys.extension_key(extension_id)},
                                      ":prefix": {"S": keys.version_prefix(version)}},
        "ProjectionExpression": "sk, unpublished_at, quarantined",
        "ConsistentRead": True,
    }
    targets: list[str] = []
    while True:
        answer = _ddb().query(**request)
        targets += [keys.target_of(item["sk"]["S"]) for item in answer.get("Items", [])
                    if ("unpublished_at" not in item or "NULL" in item["unpublished_at"])
                    and not item.get("quarantined", {}).get("BOOL", False)]
        if "LastEvaluatedKey" not in answer:
            return targets
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def touch(extension_id: str, now: float) -> None:
    """Touch the extension's summary item whenever it was last touched (for writers that change its
    statistics rarely, such as a review). ``ClientError`` when it failed, ``ConditionalCheckFailed`` among
    them when the extension is not in the catalog."""
    _ddb().update_item(
        TableName=location(EXTENSIONS_TABLE), Key=keys.summary_key(extension_id),
        UpdateExpression="SET #t = :now", ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#t": keys.TOUCHED_AT}, ExpressionAttributeValues={":now": _number(now)})


def touch_if_due(extension_id: str, now: float, due: float) -> float | None:
    """Touch the extension's summary item unless it was touched after ``due``: ``None`` when it was touched,
    else the time of the touch that held this one back. ``LookupError`` when the extension is not in the
    catalog (there is nothing to index)."""
    try:
        _ddb().update_item(
            TableName=location(EXTENSIONS_TABLE), Key=keys.summary_key(extension_id),
            UpdateExpression="SET #t = :now",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#t) OR #t <= :due)",
            ExpressionAttributeNames={"#t": keys.TOUCHED_AT},
            ExpressionAttributeValues={":now": _number(now), ":due": _number(due)},
            ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        old = error.response.get("Item")
        if not old:
            raise LookupError(f"extension {extension_id} is not in the catalog") from error
        last = old.get(keys.TOUCHED_AT)
        return float(last["N"]) if last and "N" in last else 0.0
    return None


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}
