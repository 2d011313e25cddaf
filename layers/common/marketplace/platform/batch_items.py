"""DynamoDB's ``BatchGetItem`` and ``BatchWriteItem`` on one table with the low-level client: the keys (or
write requests) sent in calls of at most 100 (25), and what DynamoDB leaves unprocessed in an answer sent
again under a ``platform.retry.Backoff`` policy until its attempts run out, then a ``RuntimeError``.

The caller brings the client, the table's name, the keys in DynamoDB's JSON form and the policy; the items
come back raw, for the caller to index. Nothing heavy is imported (no boto3, no pynamodb): the stats function
reads its items through this at cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from marketplace.platform.retry import Backoff

GET_LIMIT = 100  # keys in one BatchGetItem call
WRITE_LIMIT = 25  # requests in one BatchWriteItem call


class BatchClient(Protocol):
    """What is used of a boto3 DynamoDB client."""

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> Mapping[str, Any]: ...  # noqa: N803

    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> Mapping[str, Any]: ...  # noqa: N803


def _until_processed(call: Callable[..., Mapping[str, Any]], pending: dict[str, Any], leftover: str, policy: Backoff,
                     error: str) -> Iterator[Mapping[str, Any]]:
    """The answers of ``call(RequestItems=pending)``, sent again with what each answer names under
    ``leftover`` until nothing is left; ``RuntimeError(error)`` when the policy's attempts run out first."""
    for _ in policy.tries():
        answer = call(RequestItems=pending)
        yield answer
        pending = answer.get(leftover) or {}
        if not pending:
            return
    raise RuntimeError(error)


def get_items(client: BatchClient, table: str, keys: Sequence[Mapping[str, Any]], policy: Backoff, error: str, *,
              consistent: bool = True, projection: str | None = None,
              names: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """The items of ``table`` found for ``keys`` (which must not repeat a key), as DynamoDB returns them, in
    no particular order; the keys of the items that do not exist are simply not answered."""
    for start in range(0, len(keys), GET_LIMIT):
        request: dict[str, Any] = {"Keys": list(keys[start:start + GET_LIMIT]), "ConsistentRead": consistent}
        if projection:
            request["ProjectionExpression"] = projection
            if names:
                request["ExpressionAttributeNames"] = dict(names)
        for answer in _until_processed(client.batch_get_item, {table: request}, "UnprocessedKeys", policy, error):
            yield from answer.get("Responses", {}).get(table, [])


def write_items(client: BatchClient, table: str, requests: Sequence[Mapping[str, Any]], policy: Backoff,
                error: str) -> None:
    """Send ``requests`` (``{"PutRequest": ...}`` or ``{"DeleteRequest": ...}``) to ``table``."""
    for start in range(0, len(requests), WRITE_LIMIT):
        pending = {table: list(requests[start:start + WRITE_LIMIT])}
        for _ in _until_processed(client.batch_write_item, pending, "UnprocessedItems", policy, error):
            pass
