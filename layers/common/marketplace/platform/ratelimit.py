"""Per-caller request rate limits shared by every instance of a function: a fixed-window counter item in
DynamoDB (``RATE#<caller>``/``W#<window start>``), expired by TTL.

One conditional ``UpdateItem`` per request both counts and decides, so concurrent instances can never let
more than the limit through in a window. Over the limit the caller gets 429 with ``Retry-After`` (the
seconds until the window ends), which VS Code's sync client honours before it asks again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from marketplace.platform import aws
from marketplace.platform.config import location, setting_int
from marketplace.platform.errors import TooManyRequests
from marketplace.platform.resources import TableDef


@dataclass(frozen=True)
class RateLimit:
    table: TableDef  # a table with ``pk``/``sk`` string keys and the TTL attribute ``expires_at``
    limit: int
    window_seconds: int

    def consume(self, caller: str, now: float | None = None) -> None:
        """Count one request of ``caller``; raise ``TooManyRequests`` when the window's limit is reached."""
        moment = time.time() if now is None else now
        start = int(moment // self.window_seconds) * self.window_seconds
        try:
            aws.client("dynamodb").update_item(
                TableName=location(self.table),
                Key={"pk": {"S": f"RATE#{caller}"}, "sk": {"S": f"W#{start}"}},
                UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self.limit)},
                    ":expires": {"N": str(start + 2 * self.window_seconds)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            retry_after = max(1, math.ceil(start + self.window_seconds - moment))
            raise TooManyRequests(
                f"Too many requests: at most {self.limit} every {self.window_seconds} s; retry in {retry_after} s",
                retry_after_seconds=retry_after,
            ) from error


def configured(table: TableDef, limit_var: str, default_limit: int, window_var: str,
               default_window_seconds: int) -> RateLimit:
    """A limit whose size and window are the operator's settings (``limit_var``, ``window_var``), with defaults."""
    return RateLimit(table, setting_int(limit_var, default_limit), setting_int(window_var, default_window_seconds))
