"""Data access for upload records in the publishing table (the only module that touches them)."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from marketplace.platform.dynamo import bind
from marketplace.platform.resources import PUBLISHING_TABLE

UPLOAD_SK = "UPLOAD"
OPEN_STATES = ("pending", "validating")


class UploadRecord(Model):
    """One presigned upload: created by the publish API, settled by the ingest function."""

    class Meta:
        table_name = ""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=UPLOAD_SK)
    status = UnicodeAttribute(default="pending")
    reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(upload_id: str) -> str:
        return f"UPLOAD#{upload_id}"


def find(upload_id: str) -> UploadRecord | None:
    model = bind(UploadRecord, PUBLISHING_TABLE)
    try:
        return model.get(UploadRecord.key(upload_id), UPLOAD_SK, consistent_read=True)
    except DoesNotExist:
        return None


def reject(record: UploadRecord, reason: str) -> None:
    """Settle an open upload as rejected; a record already settled is left as it is."""
    bind(UploadRecord, PUBLISHING_TABLE)
    record.update(
        actions=[
            UploadRecord.status.set("rejected"),
            UploadRecord.reason.set(reason),
            UploadRecord.updated_at.set(datetime.now(UTC)),
        ],
        condition=UploadRecord.status.is_in(*OPEN_STATES),
    )
