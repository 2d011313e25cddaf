"""Upload requests: the publisher declares name, size and SHA-256; we answer with a presigned S3 POST
whose policy pins the key, the exact length and the content type. The bytes never pass through us."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from marketplace.platform import aws
from marketplace.platform.config import location, setting_int
from marketplace.platform.errors import BadRequest, PayloadTooLarge
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.platform.text import first_forbidden
from marketplace.publishing import audit, store, tokens
from marketplace.publishing.service import Principal

CONTENT_TYPE = "application/vsix"
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
MAX_BYTES_SETTING = "MAX_UPLOAD_BYTES"
URL_LIFETIME = timedelta(minutes=15)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def max_upload_bytes() -> int:
    return setting_int(MAX_BYTES_SETTING, DEFAULT_MAX_BYTES)


@dataclass(frozen=True)
class UploadRequest:
    file_name: str
    size: int
    sha256: str

    @classmethod
    def from_json(cls, body: object, max_bytes: int) -> UploadRequest:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object with fileName, size and sha256")
        file_name, size, sha256 = body.get("fileName"), body.get("size"), body.get("sha256")
        if not isinstance(file_name, str) or not 0 < len(file_name) <= 255 or not file_name.lower().endswith(".vsix"):
            raise BadRequest("fileName must be the package's file name, ending in .vsix, at most 255 characters")
        if first_forbidden(file_name) is not None or (
            "/" in file_name or "\\" in file_name
        ):
            raise BadRequest("fileName must be a plain file name without control characters or path separators")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise BadRequest("size must be the package's size in bytes, a positive integer")
        if size > max_bytes:
            raise PayloadTooLarge(f"the package is {size} bytes; this marketplace accepts at most {max_bytes} bytes")
        if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
            raise BadRequest("sha256 must be the package's SHA-256 digest as 64 hexadecimal characters")
        return cls(file_name, size, sha256.lower())


def object_key(upload_id: str) -> str:
    return f"{PACKAGES_BUCKET.upload_prefix}{upload_id}"


def presigned_post(upload_id: str, size: int) -> dict[str, Any]:
    """An S3 POST policy that admits exactly one object: this key, exactly ``size`` bytes, our content type."""
    post: dict[str, Any] = aws.client("s3").generate_presigned_post(
        Bucket=location(PACKAGES_BUCKET),
        Key=object_key(upload_id),
        Fields={"Content-Type": CONTENT_TYPE},
        Conditions=[{"Content-Type": CONTENT_TYPE}, ["content-length-range", size, size]],
        ExpiresIn=int(URL_LIFETIME.total_seconds()),
    )
    return post


def create(principal: Principal, body: object) -> dict[str, Any]:
    request = UploadRequest.from_json(body, max_upload_bytes())
    upload_id = secrets.token_hex(16)
    now = tokens.utcnow()
    record = store.new_upload(upload_id, user=principal.user, token_id=principal.token_id,
                              file_name=request.file_name, size=request.size, sha256=request.sha256, now=now,
                              client=audit.current().client)
    post = presigned_post(upload_id, request.size)
    return {
        **view(record),
        "upload": {"url": post["url"], "fields": post["fields"], "method": "POST",
                   "expiresAt": (now + URL_LIFETIME).isoformat()},
    }


def view(record: store.UploadRecord) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": record.upload_id,
        "status": record.status,
        "fileName": record.file_name,
        "size": int(record.size) if record.size is not None else None,
        "sha256": record.sha256,
        "createdAt": record.created_at.isoformat() if record.created_at else None,
        "updatedAt": record.updated_at.isoformat() if record.updated_at else None,
    }
    if record.reason:
        result["reason"] = record.reason
    if record.warnings:
        result["warnings"] = record.warning_list()
    if record.extension_id:
        result["extension"] = {"id": record.extension_id, "version": record.version,
                               "targetPlatform": record.target_platform}
    return result
