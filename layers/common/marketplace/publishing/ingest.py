"""The ingest pipeline's entry: which uploaded objects an S3 notification names, and what becomes of them.

Every object under the upload prefix must belong to an upload record that the publish API created;
anything else is removed at once. Package validation, version records and asset extraction are the
publishing capability's next steps (see the README's capability table): until they exist, no upload is
ever published, and each registered upload is settled as rejected with a reason the publisher can read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from marketplace.publishing import store

UPLOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
VALIDATION_UNAVAILABLE = "package validation is not available on this deployment yet; nothing was published"


class MalformedNotification(ValueError):
    """The message is not an S3 event notification."""


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str
    size: int
    upload_id: str | None  # None when the key cannot be an upload id


def uploaded_objects(notification: Mapping[str, Any], upload_prefix: str) -> list[UploadedObject]:
    """The ``ObjectCreated`` objects under ``upload_prefix`` that a notification names (none for a test event)."""
    if notification.get("Event") == "s3:TestEvent":
        return []
    records = notification.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification("no Records list in the S3 notification")
    found: list[UploadedObject] = []
    for record in records:
        try:
            if not str(record["eventName"]).startswith("ObjectCreated:"):
                continue
            bucket = str(record["s3"]["bucket"]["name"])
            key = unquote_plus(str(record["s3"]["object"]["key"]))  # S3 URL-encodes keys in events
            size = int(record["s3"]["object"].get("size", 0))
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedNotification(f"S3 record without {error}") from error
        if not key.startswith(upload_prefix):
            continue
        candidate = key[len(upload_prefix):]
        found.append(UploadedObject(bucket, key, size, candidate if UPLOAD_ID.match(candidate) else None))
    return found


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str
    reason: str


def settle(obj: UploadedObject, delete_object: Callable[[str, str], None]) -> Outcome:
    """Decide one uploaded object's fate; the object is deleted whenever it will not be published."""
    record = store.find_upload(obj.upload_id) if obj.upload_id else None
    if record is None:
        delete_object(obj.bucket, obj.key)
        return Outcome(obj.key, "removed", "no upload record for this object")
    if record.status in store.OPEN_STATES:
        store.settle_upload(record, "rejected", VALIDATION_UNAVAILABLE)
    delete_object(obj.bucket, obj.key)
    return Outcome(obj.key, "rejected", VALIDATION_UNAVAILABLE)
