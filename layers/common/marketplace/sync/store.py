"""Data access of the Settings Sync store: the sync table and the ``private/sync/`` prefix of the bucket.

One partition per user (``U#<user id>``, the hash of issuer and subject: no raw identity is stored):

=============================== ===========================================================================
sort key                        item
=============================== ===========================================================================
``META``                        ``session``, the wrapped data key, the set of resource names in use
``C#<collection>``              a profile collection
``H#<scope>#<resource>``        a resource's head: ``seq`` (its newest sequence), ``latest`` ref, ``cleared``
``R#<scope>#<resource>#<seq>``  one ref: the sealed body inline (``body``) or in S3 (``blob``)
=============================== ===========================================================================

Every item carries the ``session`` it was written in. A reset deletes ``META`` (with the only copy of the
user's data key) first, so everything written before is unreadable and ignored at once, however long the
clean-up of the remaining items takes. ``C#``, ``H#`` and ``META`` sort together (``"C#" < "H#" < "META" <
"R#"``), so the manifest is one Query that never reads a body.

The low-level client is used rather than pynamodb: the write is one ``TransactWriteItems`` of up to four
conditional operations whose individual failure reasons decide between 412, a retry and a 4xx, and the reads
are consistent ``BatchGetItem`` calls across item kinds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from marketplace.platform import aws, batch_items
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET, SYNC_TABLE
from marketplace.platform.retry import Backoff
from marketplace.sync.protocol import Head

META = "META"
_MANIFEST_FIRST, _MANIFEST_LAST = "C#", META
SEQUENCE_DIGITS = 12
# Keys or deletions DynamoDB left unprocessed in a batch are sent again: 8 attempts, 50 ms doubling up to 1 s.
UNPROCESSED_RETRY = Backoff(attempts=8, base=0.05, cap=1.0, jitter=False)


def _pk(user_id: str) -> dict[str, str]:
    return {"S": f"U#{user_id}"}


def head_key(scope: str, resource: str) -> str:
    return f"H#{scope}#{resource}"


def ref_key(scope: str, resource: str, sequence: int) -> str:
    return f"R#{scope}#{resource}#{sequence:0{SEQUENCE_DIGITS}d}"


def collection_key(collection: str) -> str:
    return f"C#{collection}"


@dataclass(frozen=True)
class Meta:
    session: str
    wrapped_key: bytes
    names: frozenset[str]


@dataclass(frozen=True)
class StoredRef:
    scope: str
    resource: str
    sequence: int
    ref: str
    created: int
    session: str
    body: bytes | None  # sealed, when inline
    blob: str | None  # the S3 key of the sealed body otherwise


@dataclass(frozen=True)
class Snapshot:
    """What a request needs to know first, read in one consistent batch."""

    meta: Meta | None
    head: Head | None  # only a head of the current session
    head_sequence: int  # the head's sequence even when it is left over from an earlier session (0: none)
    collection_exists: bool


class TransactionFailed(Exception):
    """A conditional write lost: ``reasons`` names the items whose condition failed."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = tuple(reasons)


def _table() -> str:
    return location(SYNC_TABLE)


def _ddb() -> Any:
    return aws.client("dynamodb")


def _meta(item: dict[str, Any] | None) -> Meta | None:
    if not item or "session" not in item:
        return None
    return Meta(
        session=item["session"]["S"],
        wrapped_key=item["wrapped_key"]["B"],
        names=frozenset(item.get("names", {}).get("SS", ())),
    )


def _head(item: dict[str, Any]) -> Head:
    _, scope, resource = item["sk"]["S"].split("#", 2)
    latest = item.get("latest", {}).get("S")
    created = item.get("latest_created", {}).get("N")
    return Head(
        scope=scope,
        resource=resource,
        sequence=int(item["seq"]["N"]),
        latest=latest,
        latest_created=int(created) if created is not None else None,
        cleared=int(item.get("cleared", {}).get("N", "0")),
    )


def _stored_ref(item: dict[str, Any]) -> StoredRef:
    _, scope, resource, sequence = item["sk"]["S"].split("#", 3)
    return StoredRef(
        scope=scope,
        resource=resource,
        sequence=int(sequence),
        ref=item["ref"]["S"],
        created=int(item["created"]["N"]),
        session=item["session"]["S"],
        body=item["body"]["B"] if "body" in item else None,
        blob=item["blob"]["S"] if "blob" in item else None,
    )


def _batch_get(user_id: str, sort_keys: Sequence[str], projection: str | None = None) -> dict[str, dict[str, Any]]:
    """Consistent reads of several items of one user, by sort key (at most 100 per call)."""
    table = _table()
    keys = [{"pk": _pk(user_id), "sk": {"S": sk}} for sk in dict.fromkeys(sort_keys)]
    items = batch_items.get_items(_ddb(), table, keys, UNPROCESSED_RETRY,
                                  "DynamoDB left keys unprocessed after retries", projection=projection)
    return {item["sk"]["S"]: item for item in items}


def snapshot(user_id: str, scope: str, resource: str | None, collection: str | None) -> Snapshot:
    keys = [META]
    if resource is not None:
        keys.append(head_key(scope, resource))
    if collection is not None:
        keys.append(collection_key(collection))
    items = _batch_get(user_id, keys)
    meta = _meta(items.get(META))
    head_item = items.get(head_key(scope, resource)) if resource is not None else None
    head = None
    head_sequence = 0
    if head_item is not None:
        head_sequence = int(head_item["seq"]["N"])
        if meta is not None and head_item["session"]["S"] == meta.session:
            head = _head(head_item)
    collection_item = items.get(collection_key(collection)) if collection is not None else None
    collection_exists = (
        collection_item is not None and meta is not None and collection_item["session"]["S"] == meta.session
    )
    return Snapshot(meta, head, head_sequence, collection_exists)


def create_meta(user_id: str, session: str, wrapped_key: bytes) -> bool:
    """Create the user's ``META`` item; ``False`` when another request created it first."""
    try:
        _ddb().put_item(
            TableName=_table(),
            Item={
                "pk": _pk(user_id),
                "sk": {"S": META},
                "session": {"S": session},
                "wrapped_key": {"B": wrapped_key},
                "created": {"N": str(int(time.time()))},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def manifest_items(user_id: str) -> tuple[Meta | None, list[Head], list[str]]:
    """The user's meta, heads and collections of the current session, in one Query (no bodies)."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
        "ExpressionAttributeValues": {":pk": _pk(user_id), ":first": {"S": _MANIFEST_FIRST},
                                      ":last": {"S": _MANIFEST_LAST}},
        "ConsistentRead": True,
    }
    while True:
        answer = _ddb().query(**request)
        items += answer.get("Items", [])
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    meta = next((_meta(i) for i in items if i["sk"]["S"] == META), None)
    if meta is None:
        return None, [], []
    current = [i for i in items if i.get("session", {}).get("S") == meta.session]
    heads = [_head(i) for i in current if i["sk"]["S"].startswith("H#")]
    collections = [i["sk"]["S"][2:] for i in current if i["sk"]["S"].startswith("C#")]
    return meta, heads, collections


def commit_write(
    user_id: str,
    session: str,
    scope: str,
    resource: str,
    *,
    previous_sequence: int,
    head_exists: bool,
    ref: str,
    sequence: int,
    created: int,
    body: bytes | None,
    blob: str | None,
    new_name: bool,
    max_names: int,
    collection: str | None,
) -> None:
    """One transaction: advance the head from ``previous_sequence`` (so of racing writers exactly one wins),
    add the ref, and check that the session (and collection) still stand. Raises ``TransactionFailed``
    naming ``head``, ``ref``, ``meta`` or ``collection``."""
    table = _table()
    head_update: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": _pk(user_id), "sk": {"S": head_key(scope, resource)}},
        "UpdateExpression": "SET #session = :session, seq = :seq, latest = :ref, latest_created = :created, "
                            "cleared = if_not_exists(cleared, :zero)",
        "ExpressionAttributeNames": {"#session": "session"},
        "ExpressionAttributeValues": {
            ":session": {"S": session},
            ":seq": {"N": str(sequence)},
            ":ref": {"S": ref},
            ":created": {"N": str(created)},
            ":zero": {"N": "0"},
        },
    }
    if head_exists:
        head_update["ConditionExpression"] = "seq = :previous"
        head_update["ExpressionAttributeValues"][":previous"] = {"N": str(previous_sequence)}
    else:
        head_update["ConditionExpression"] = "attribute_not_exists(sk)"
    ref_item: dict[str, Any] = {
        "pk": _pk(user_id),
        "sk": {"S": ref_key(scope, resource, sequence)},
        "session": {"S": session},
        "ref": {"S": ref},
        "created": {"N": str(created)},
    }
    if body is not None:
        ref_item["body"] = {"B": body}
    if blob is not None:
        ref_item["blob"] = {"S": blob}
    meta_key = {"pk": _pk(user_id), "sk": {"S": META}}
    meta_operation: dict[str, Any]
    if new_name:
        meta_operation = {"Update": {
            "TableName": table,
            "Key": meta_key,
            "UpdateExpression": "ADD #names :name",
            "ConditionExpression": "#session = :session AND (attribute_not_exists(#names) OR size(#names) < :cap)",
            "ExpressionAttributeNames": {"#names": "names", "#session": "session"},
            "ExpressionAttributeValues": {":name": {"SS": [resource]}, ":session": {"S": session},
                                          ":cap": {"N": str(max_names)}},
        }}
    else:
        meta_operation = {"ConditionCheck": {
            "TableName": table,
            "Key": meta_key,
            "ConditionExpression": "#session = :session",
            "ExpressionAttributeNames": {"#session": "session"},
            "ExpressionAttributeValues": {":session": {"S": session}},
        }}
    operations: list[dict[str, Any]] = [
        {"Update": head_update},
        {"Put": {"TableName": table, "Item": ref_item, "ConditionExpression": "attribute_not_exists(sk)"}},
        meta_operation,
    ]
    names = ["head", "ref", "meta"]
    if collection is not None:
        operations.append({"ConditionCheck": {
            "TableName": table,
            "Key": {"pk": _pk(user_id), "sk": {"S": collection_key(collection)}},
            "ConditionExpression": "#session = :session",
            "ExpressionAttributeNames": {"#session": "session"},
            "ExpressionAttributeValues": {":session": {"S": session}},
        }})
        names.append("collection")
    _transact(operations, names)


def _transact(operations: list[dict[str, Any]], names: Sequence[str]) -> None:
    try:
        _ddb().transact_write_items(TransactItems=operations)
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = error.response.get("CancellationReasons") or []
        failed = [names[i] for i, reason in enumerate(reasons)
                  if i < len(names) and reason.get("Code") == "ConditionalCheckFailed"]
        if not failed:
            # a conflict with another transaction in flight on the same items: the caller re-reads and retries
            failed = ["conflict"]
        raise TransactionFailed(failed) from error


def get_ref(user_id: str, scope: str, resource: str, sequence: int) -> StoredRef | None:
    answer = _ddb().get_item(
        TableName=_table(),
        Key={"pk": _pk(user_id), "sk": {"S": ref_key(scope, resource, sequence)}},
        ConsistentRead=True,
    )
    item = answer.get("Item")
    return _stored_ref(item) if item else None


def get_refs(user_id: str, keys: Sequence[tuple[str, str, int]]) -> list[StoredRef]:
    items = _batch_get(user_id, [ref_key(scope, resource, sequence) for scope, resource, sequence in keys])
    return [_stored_ref(item) for item in items.values()]


def refs(user_id: str, scope: str, resource: str, low: int, high: int, *, newest_first: bool = True,
         limit: int | None = None, with_bodies: bool = False) -> list[StoredRef]:
    """The refs with ``low <= sequence <= high`` (any session: the caller filters)."""
    if high < low:
        return []
    request: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": _pk(user_id),
            ":low": {"S": ref_key(scope, resource, low)},
            ":high": {"S": ref_key(scope, resource, high)},
        },
        "ScanIndexForward": not newest_first,
        "ConsistentRead": True,
    }
    if not with_bodies:
        request["ProjectionExpression"] = "sk, #ref, created, #session, #blob"
        request["ExpressionAttributeNames"] = {"#ref": "ref", "#session": "session", "#blob": "blob"}
    found: list[StoredRef] = []
    while True:
        if limit is not None:
            request["Limit"] = limit - len(found)
        answer = _ddb().query(**request)
        found += [_stored_ref(i) for i in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer or (limit is not None and len(found) >= limit):
            return found
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def expire_ref(user_id: str, scope: str, resource: str, sequence: int, expires_at: int) -> str | None:
    """Mark a ref that fell out of the kept window for TTL deletion; returns its S3 key, if any."""
    try:
        answer = _ddb().update_item(
            TableName=_table(),
            Key={"pk": _pk(user_id), "sk": {"S": ref_key(scope, resource, sequence)}},
            UpdateExpression="SET expires_at = :at",
            ConditionExpression="attribute_exists(sk) AND attribute_not_exists(expires_at)",
            ExpressionAttributeValues={":at": {"N": str(expires_at)}},
            ReturnValues="ALL_OLD",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    blob = answer.get("Attributes", {}).get("blob")
    return blob["S"] if blob else None


def delete_latest_ref(user_id: str, session: str, head: Head, target: StoredRef, previous: StoredRef | None) -> None:
    """Delete a resource's newest ref and make ``previous`` (or nothing) its latest, if the head did not move."""
    table = _table()
    values: dict[str, Any] = {":seq": {"N": str(head.sequence)}, ":session": {"S": session},
                              ":latest": {"S": target.ref}}
    if previous is None:
        update = "REMOVE latest, latest_created"
    else:
        update = "SET latest = :previous, latest_created = :created"
        values[":previous"] = {"S": previous.ref}
        values[":created"] = {"N": str(previous.created)}
    _transact([
        {"Update": {
            "TableName": table,
            "Key": {"pk": _pk(user_id), "sk": {"S": head_key(head.scope, head.resource)}},
            "UpdateExpression": update,
            "ConditionExpression": "seq = :seq AND #session = :session AND latest = :latest",
            "ExpressionAttributeNames": {"#session": "session"},
            "ExpressionAttributeValues": values,
        }},
        {"Delete": {"TableName": table,
                    "Key": {"pk": _pk(user_id), "sk": {"S": ref_key(target.scope, target.resource, target.sequence)}}}},
    ], ["head", "ref"])


def delete_item(user_id: str, sort_key: str) -> None:
    _ddb().delete_item(TableName=_table(), Key={"pk": _pk(user_id), "sk": {"S": sort_key}})


def clear_head(user_id: str, session: str, head: Head) -> None:
    """Forget every ref of a resource up to the head's sequence: the head stays, so sequences never repeat."""
    _transact([{"Update": {
        "TableName": _table(),
        "Key": {"pk": _pk(user_id), "sk": {"S": head_key(head.scope, head.resource)}},
        "UpdateExpression": "SET cleared = seq REMOVE latest, latest_created",
        "ConditionExpression": "seq = :seq AND #session = :session",
        "ExpressionAttributeNames": {"#session": "session"},
        "ExpressionAttributeValues": {":seq": {"N": str(head.sequence)}, ":session": {"S": session}},
    }}], ["head"])


def put_collection(user_id: str, session: str, collection: str) -> None:
    """Create a collection in the current session (``TransactionFailed(["meta"])`` if the session moved)."""
    table = _table()
    _transact([
        {"ConditionCheck": {
            "TableName": table,
            "Key": {"pk": _pk(user_id), "sk": {"S": META}},
            "ConditionExpression": "#session = :session",
            "ExpressionAttributeNames": {"#session": "session"},
            "ExpressionAttributeValues": {":session": {"S": session}},
        }},
        {"Put": {
            "TableName": table,
            "Item": {"pk": _pk(user_id), "sk": {"S": collection_key(collection)}, "session": {"S": session},
                     "created": {"N": str(int(time.time()))}},
            "ConditionExpression": "attribute_not_exists(sk)",
        }},
    ], ["meta", "collection"])


def delete_meta(user_id: str) -> Meta | None:
    """Delete the user's ``META`` item (session and wrapped key): everything else becomes unreadable."""
    answer = _ddb().delete_item(
        TableName=_table(), Key={"pk": _pk(user_id), "sk": {"S": META}}, ReturnValues="ALL_OLD"
    )
    return _meta(answer.get("Attributes"))


def items_to_clean(user_id: str, session: str, prefixes: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """``(sort key, blob)`` of the items written in ``session`` under the given sort-key prefixes."""
    for prefix in prefixes:
        request: dict[str, Any] = {
            "TableName": _table(),
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "FilterExpression": "#session = :session",
            "ProjectionExpression": "sk, #blob",
            "ExpressionAttributeNames": {"#session": "session", "#blob": "blob"},
            "ExpressionAttributeValues": {":pk": _pk(user_id), ":prefix": {"S": prefix},
                                          ":session": {"S": session}},
        }
        while True:
            answer = _ddb().query(**request)
            for item in answer.get("Items", []):
                yield item["sk"]["S"], item["blob"]["S"] if "blob" in item else None
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def delete_items(user_id: str, sort_keys: Sequence[str]) -> None:
    table = _table()
    requests = [{"DeleteRequest": {"Key": {"pk": _pk(user_id), "sk": {"S": sk}}}} for sk in sort_keys]
    batch_items.write_items(_ddb(), table, requests, UNPROCESSED_RETRY,
                            "DynamoDB left deletions unprocessed after retries")


# --- bodies in S3 -----------------------------------------------------------------------------------------

BLOB_PREFIX = f"{PACKAGES_BUCKET.private_prefix}sync/"


def blob_key(user_id: str, scope: str, resource: str, ref: str) -> str:
    return f"{BLOB_PREFIX}{user_id}/{scope}/{resource}/{ref}"


def put_blob(key: str, sealed: bytes) -> None:
    aws.client("s3").put_object(Bucket=location(PACKAGES_BUCKET), Key=key, Body=sealed,
                                ContentType="application/octet-stream")


def get_blob(key: str) -> bytes | None:
    s3 = aws.client("s3")
    try:
        answer = s3.get_object(Bucket=location(PACKAGES_BUCKET), Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    data: bytes = answer["Body"].read()
    return data


def delete_blobs(keys: Sequence[str]) -> None:
    s3 = aws.client("s3")
    for start in range(0, len(keys), 1000):
        s3.delete_objects(
            Bucket=location(PACKAGES_BUCKET),
            Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True},
        )
