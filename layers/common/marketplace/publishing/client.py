"""The publisher's side of an upload, used by ``marketplace publish``: declare the package, send the bytes
straight to S3 with the presigned POST, then wait for the ingest's verdict. Standard library only."""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

CHUNK = 256 * 1024
Progress = Callable[[int, int], None]


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str | None
    upload: dict[str, Any]
    warning: str | None = None  # the registry's, about the token (it expires soon)


def digest(path: Path) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def trusting(ca_file: str) -> ssl.SSLContext:
    """A verifying context that trusts the system's authorities and, besides them, ``ca_file`` (PEM)."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_file)
    return context


def api(method: str, url: str, token: str, body: dict[str, Any] | None = None, *,
        context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """One JSON call; ``context`` verifies HTTPS against a given CA (a local runtime's, say)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310 - the registry URL
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            message = json.loads(text).get("message") or text
        except ValueError:
            message = text or error.reason
        raise PublishError(f"{method} {url}: {error.code} {message}") from error
    except (urllib.error.URLError, OSError) as error:
        raise PublishError(f"cannot reach {url}: {error}") from error


def _multipart(fields: dict[str, str], file_name: str, handle: BinaryIO, size: int,
               content_type: str) -> tuple[str, int, Iterator[bytes]]:
    boundary = f"----marketplace{secrets.token_hex(12)}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
             f"Content-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        while chunk := handle.read(CHUNK):
            yield chunk
        yield tail

    return f"multipart/form-data; boundary={boundary}", len(head) + size + len(tail), chunks()


def send_to_storage(upload: dict[str, Any], path: Path, size: int, progress: Progress | None = None, *,
                    context: ssl.SSLContext | None = None) -> None:
    """POST the file to the presigned URL, streaming it (S3 answers 204 on success)."""
    parts = urlsplit(upload["url"])
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.netloc, timeout=60, context=context)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=60)
    fields = upload["fields"]
    with path.open("rb") as handle:
        content_type, length, body = _multipart(fields, path.name, handle, size,
                                                fields.get("Content-Type", "application/octet-stream"))
        try:
            connection.putrequest("POST", parts.path or "/")
            connection.putheader("Content-Type", content_type)
            connection.putheader("Content-Length", str(length))
            connection.endheaders()
            sent = 0
            for chunk in body:
                connection.send(chunk)
                sent += len(chunk)
                if progress:
                    progress(min(sent, length), length)
            response = connection.getresponse()
            answer = response.read().decode(errors="replace")
        except OSError as error:
            raise PublishError(f"upload to storage failed: {error}") from error
        finally:
            connection.close()
    if response.status not in (200, 201, 204):
        raise PublishError(f"storage refused the upload: {response.status} {answer[:500]}")


def publish(path: Path, registry: str, token: str, *, wait_seconds: float = 300, poll: float = 1.0,
            progress: Progress | None = None, context: ssl.SSLContext | None = None) -> Verdict:
    if not path.is_file():
        raise PublishError(f"{path} is not a file")
    base = registry.rstrip("/")
    size, sha256 = digest(path)
    created = api("POST", f"{base}/api/publish/uploads", token,
                  {"fileName": path.name, "size": size, "sha256": sha256}, context=context)
    send_to_storage(created["upload"], path, size, progress, context=context)
    deadline = time.monotonic() + wait_seconds
    status_url = f"{base}/api/publish/uploads/{created['id']}"
    while True:
        current = api("GET", status_url, token, context=context)
        if current["status"] in ("published", "rejected", "quarantined"):
            return Verdict(current["status"], current.get("reason"), current, created.get("warning"))
        if time.monotonic() > deadline:
            raise PublishError(f"upload {created['id']} is still {current['status']} after {wait_seconds:.0f}s; "
                               f"check later with GET {status_url}")
        time.sleep(poll)


def progress_bar(stream: Any = sys.stderr) -> Progress:
    def show(sent: int, total: int) -> None:
        width = 30
        filled = int(width * sent / total) if total else width
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {sent * 100 // max(total, 1):3d}% "
                     f"{sent / 1048576:.1f}/{total / 1048576:.1f} MiB")
        if sent >= total:
            stream.write("\n")
        stream.flush()

    return show
