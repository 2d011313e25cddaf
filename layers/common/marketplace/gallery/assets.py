"""Assets through the API (``fallbackAssetUri``, ``vspackage``, web resources): which object answers a
request, and reading it from the public prefix of the bucket.

The package itself is never streamed through Lambda: the API counts the download and redirects to the CDN.
Other assets are small (manifests, READMEs, icons) and are answered with their bytes, because a client
reaches the fallback exactly when the CDN did not answer 200; one larger than a Lambda response can carry
is redirected to the CDN too.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from marketplace.catalog.model import VersionView
from marketplace.gallery import serialize
from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET

MAX_INLINE_BYTES = 4 * 1024 * 1024  # a Lambda response is at most 6 MB, base64 adds a third


@dataclass(frozen=True)
class StoredAsset:
    key: str
    content_type: str
    body: bytes | None  # None: too large to answer inline, redirect to the CDN


def object_key(version: VersionView, asset_type: str) -> str | None:
    """The key of ``asset_type`` for ``version``; ``None`` when the version has no such asset."""
    if asset_type == serialize.VSIX_SIGNATURE:
        if serialize.REPOSITORY_SIGNATURE in version.assets and serialize.advertise_signature():
            return f"{version.asset_base}/{serialize.REPOSITORY_SIGNATURE}"
        return None
    if asset_type in (serialize.WEB_RESOURCES, serialize.REPOSITORY_SIGNATURE) or asset_type not in version.assets:
        return None
    return f"{version.asset_base}/{asset_type}"


def web_resource_key(version: VersionView, path: str) -> str | None:
    """The key of a file inside a web extension (``extension/<path>``); ``None`` when it cannot be one."""
    if serialize.WEB_RESOURCES not in version.assets:
        return None
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or "\\" in path or "\x00" in path:
        return None
    return f"{version.asset_base}/{serialize.WEB_RESOURCES}/{path}"


def read(key: str) -> StoredAsset | None:
    """The object at ``key`` under the public prefix, ``None`` when it does not exist."""
    s3 = aws.client("s3")
    bucket = location(PACKAGES_BUCKET)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
            return None
        raise
    content_type = str(head.get("ContentType") or "application/octet-stream")
    if int(head.get("ContentLength", 0)) > MAX_INLINE_BYTES:
        return StoredAsset(key, content_type, None)
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    return StoredAsset(key, content_type, found["Body"].read())
