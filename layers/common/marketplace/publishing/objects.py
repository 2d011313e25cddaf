"""Data access for the packages bucket on the publishing path: the quarantined upload, the public
assets of a version and namespace logos (the only module of the capability that touches S3)."""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketplace.platform import aws
from marketplace.platform.config import location
from marketplace.platform.resources import PACKAGES_BUCKET

CHUNK = 1024 * 1024
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str
    truncated: bool  # the object was longer than the cap: only cap + 1 bytes were read


def download(key: str, cap: int) -> Downloaded:
    """Stream an object to a temporary file, hashing as it goes and reading at most ``cap + 1`` bytes."""
    body = aws.client("s3").get_object(Bucket=location(PACKAGES_BUCKET), Key=key)["Body"]
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(prefix="upload-", suffix=".vsix", delete=False) as out:
        try:
            while size <= cap:
                chunk = body.read(min(CHUNK, cap + 1 - size))
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        finally:
            body.close()
    return Downloaded(Path(out.name), size, digest.hexdigest(), size > cap)


def put_asset(key: str, data: bytes, content_type: str) -> None:
    aws.client("s3").put_object(Bucket=location(PACKAGES_BUCKET), Key=key, Body=data, ContentType=content_type,
                                CacheControl=IMMUTABLE)


def copy_package(source_key: str, key: str, content_type: str) -> None:
    """Server-side copy of the validated package to its public key (the bytes never leave S3)."""
    bucket = location(PACKAGES_BUCKET)
    aws.client("s3").copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key},
                                 ContentType=content_type, CacheControl=IMMUTABLE, MetadataDirective="REPLACE")


def delete(key: str) -> None:
    aws.client("s3").delete_object(Bucket=location(PACKAGES_BUCKET), Key=key)


def delete_keys(keys: list[str]) -> None:
    """Remove the objects a failed publish wrote (it knows them: no listing, so no ListBucket permission)."""
    s3, bucket = aws.client("s3"), location(PACKAGES_BUCKET)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start:start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def put_upload(key: str, data: bytes, content_type: str) -> None:
    """Store a package that came through the API (ovsx, vsce) where a presigned POST would have put it."""
    aws.client("s3").put_object(Bucket=location(PACKAGES_BUCKET), Key=key, Body=data, ContentType=content_type)


class RangedObject(io.RawIOBase):
    """A stored object read with ranged GETs, seekable: ``zipfile`` reads a package's central directory and
    the entries it asks for without downloading the rest (the update-diff scan of the previous version).
    Wrap it in ``io.BufferedReader`` so small reads share a request."""

    def __init__(self, key: str, size: int) -> None:
        super().__init__()
        self.key, self.size, self.position = key, size, 0
        self._bucket = location(PACKAGES_BUCKET)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.size - self.position)
        if wanted <= 0:
            return 0
        body = aws.client("s3").get_object(Bucket=self._bucket, Key=self.key,
                                           Range=f"bytes={self.position}-{self.position + wanted - 1}")["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


def open_ranged(key: str, size: int, buffer_bytes: int = 256 * 1024) -> io.BufferedReader:
    """``RangedObject`` of ``key`` (``size`` bytes long), buffered."""
    return io.BufferedReader(RangedObject(key, size), buffer_size=buffer_bytes)
