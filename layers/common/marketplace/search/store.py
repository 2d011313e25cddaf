"""Data access for search documents in the private part of the packages bucket."""

from __future__ import annotations

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.search.documents import Change, Upsert

DOCUMENTS_PREFIX = f"{PACKAGES_BUCKET.private_prefix}search/extensions/"


def document_key(extension_id: str) -> str:
    return f"{DOCUMENTS_PREFIX}{extension_id}.json"


def apply(change: Change) -> None:
    s3 = aws.client("s3")
    bucket = location(PACKAGES_BUCKET)
    if isinstance(change, Upsert):
        s3.put_object(Bucket=bucket, Key=document_key(change.extension_id), Body=change.document,
                      ContentType="application/json")
    else:
        s3.delete_object(Bucket=bucket, Key=document_key(change.extension_id))
