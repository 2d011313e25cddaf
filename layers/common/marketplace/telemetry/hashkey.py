"""The secret telemetry ids are hashed with: made by KMS, stored only wrapped, unwrapped once per process.

The secret is 32 random bytes from ``GenerateDataKey`` on the telemetry key; the statistics table keeps only
the wrapped copy (pk ``CONFIG``, sk ``TELEMETRY_HASH_KEY``). The first request of a new deployment creates it
with a conditional put: when several instances start at once, one put wins and the others read the winner's
item and unwrap it, so every instance hashes with the same secret. An instance unwraps it with ``Decrypt``
once and keeps the plaintext in memory only.

Deleting the item rotates the secret: pseudonyms change (old and new events no longer link), and instances
still running keep the old secret until they are replaced, so delete it only with a deployment.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import STATISTICS_TABLE, TELEMETRY_KEY

PK = "CONFIG"
SK = "TELEMETRY_HASH_KEY"
SECRET_BYTES = 32
# Bound to the wrapped secret: a ciphertext taken from elsewhere does not unwrap as this one.
CONTEXT = {"purpose": "marketplace-telemetry-id-hashing"}


class SecretUnavailable(Exception):
    """KMS or DynamoDB could not give the secret now (an outage or a missing permission)."""


def _read(table: str) -> bytes | None:
    answer: dict[str, Any] = aws.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": PK}, "sk": {"S": SK}}, ConsistentRead=True)
    item = answer.get("Item")
    return None if item is None else bytes(item["wrapped"]["B"])


def _create(table: str, key_id: str) -> bytes | None:
    """A new secret, stored wrapped; ``None`` when another instance stored one first."""
    made: dict[str, Any] = aws.client("kms").generate_data_key(
        KeyId=key_id, NumberOfBytes=SECRET_BYTES, EncryptionContext=CONTEXT)
    try:
        aws.client("dynamodb").put_item(
            TableName=table,
            Item={"pk": {"S": PK}, "sk": {"S": SK}, "wrapped": {"B": made["CiphertextBlob"]},
                  "created_at": {"S": datetime.now(UTC).isoformat(timespec="seconds")}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    return bytes(made["Plaintext"])


def load() -> bytes:
    """The secret: created on first use, otherwise read and unwrapped."""
    table, key_id = location(STATISTICS_TABLE), location(TELEMETRY_KEY)
    try:
        wrapped = _read(table)
        if wrapped is None:
            created = _create(table, key_id)
            if created is not None:
                return created
            wrapped = _read(table)  # another instance won the race: use its secret
            if wrapped is None:
                raise SecretUnavailable("the hashing secret was created but cannot be read back")
        answer: dict[str, Any] = aws.client("kms").decrypt(
            CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=CONTEXT)
    except (ClientError, BotoCoreError) as error:
        raise SecretUnavailable(f"the hashing secret cannot be loaded: {type(error).__name__}") from error
    secret = bytes(answer["Plaintext"])
    if len(secret) != SECRET_BYTES:
        raise SecretUnavailable(f"the hashing secret has {len(secret)} bytes, not {SECRET_BYTES}")
    return secret


class CachedSecret:
    """The secret of the deployment this process talks to, loaded once (per table and key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[str, str], bytes] | None = None

    def get(self) -> bytes:
        where = (location(STATISTICS_TABLE), location(TELEMETRY_KEY))
        loaded = self._loaded
        if loaded is not None and loaded[0] == where:
            return loaded[1]
        with self._lock:
            if self._loaded is None or self._loaded[0] != where:
                self._loaded = (where, load())
            return self._loaded[1]
