"""The per-service modules, installed and restored in the order the runtime needs: KMS keys before provisioning
(provision reuses a restored key by its alias), everything else after it fills the fresh resources."""

from __future__ import annotations

from marketplace.local.durable import dynamodb, kinesis, kms, s3, sqs
from marketplace.local.durable.store import DataStore


def install() -> None:
    for module in (kms, dynamodb, s3, sqs, kinesis):
        module.install()


def restore_keys(store: DataStore) -> None:
    kms.restore(store)


def restore_data(store: DataStore) -> None:
    for module in (dynamodb, s3, sqs, kinesis):
        module.restore(store)
