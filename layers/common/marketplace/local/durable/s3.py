"""S3 objects, kept with their bytes and metadata: after a restart each key reads back byte-identical with the same
ETag, content headers, user metadata, last-modified time, encryption settings, version id, storage class, checksum,
ACL and tags.

One record per key (kind ``"s3"``, key ``<bucket>\\x1f<object key>``): JSON metadata naming the body's blob (a
content-addressed file of the ``DataStore``). Only the *current* version of a key is kept. A key whose current
version is a delete marker, or that is gone, has no record: it stays deleted after a restart, but the marker
itself, noncurrent versions, in-progress multipart uploads and the parts of a completed one (``PartNumber``
reads) are not kept.

What is recorded is the state of the key after the change, not the call: moto's handlers finish an object
(content type, user metadata, ACL, checksum algorithm, tags) *after* ``S3Backend.put_object`` returns, so the
backend hooks only note which keys changed and the notes are written when the outermost hooked call, or the
S3 request that made them, ends (before moto answers). A note is written as the key's state at that moment,
under one lock, so when requests race on one key the last record written is moto's last state. An S3 event
notification is sent only after the object it announces is on disk.

Bodies are not held in memory: once an object's blob is written, the ``FakeKey``'s ``_value_buffer`` (a
``SpooledTemporaryFile``, in memory below about 5 MiB) is closed and replaced by a ``_BlobBody`` that reads the
immutable blob file on demand, and restored keys get one from the start. moto reads a body only through that
buffer (``FakeKey.value`` under ``key.lock``; ``FakeKey.etag`` hashes it when no ETag is known, which never
happens here since the ETag is recorded); ``size`` is the ``contentsize`` attribute; ``dispose()`` closes the
buffer (the blob file stays: blobs are removed only by the store's garbage collection at start-up); pickling and
``copy.deepcopy`` (ListObjectVersions) go through ``__getstate__``, which reads ``value`` and leaves the buffer out.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from marketplace.local import durable
from marketplace.local.durable.codec import collection_paused
from marketplace.local.durable.store import Blob, DataStore, Put

if TYPE_CHECKING:
    from moto.s3.models import FakeAcl, FakeBucket, FakeKey, S3Backend

log = logging.getLogger("marketplace.local")

KIND = "s3"
SEPARATOR = "\x1f"
FORMAT = 1

_INSTALLED = "_marketplace_durable_s3"
_BLOB = "_marketplace_durable_blob"  # the Blob a FakeKey's body was stored as
_INSTALL_LOCK = threading.Lock()
_COMMIT_LOCK = threading.Lock()  # a key's current state is read and recorded under it: records follow moto
_scope = threading.local()  # depth of hooked calls on this thread, and the keys they changed

_Changed = Callable[[dict[str, Any], Any], list[tuple[str, str]]]


def record_key(bucket: str, key: str) -> str:
    return f"{bucket}{SEPARATOR}{key}"


# ------------------------------------------------------------------------------------------------ bodies


class _BlobBody:
    """A ``FakeKey._value_buffer`` backed by an immutable blob file: the file-object calls moto makes on a body
    (``seek``, ``tell``, ``read``, ``close``), opening the file read-only for each read, so neither the bytes
    nor a descriptor are held between requests."""

    __slots__ = ("closed", "path", "position", "size")

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size
        self.position = 0
        self.closed = False

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        self._check()
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        remaining = self.size - self.position
        if size is None or size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        chunks = []
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            while size > 0:
                chunk = os.pread(descriptor, size, self.position)
                if not chunk:
                    break
                chunks.append(chunk)
                self.position += len(chunk)
                size -= len(chunk)
        finally:
            os.close(descriptor)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        raise io.UnsupportedOperation("a stored object's body is immutable")

    def truncate(self, size: int | None = None) -> int:
        raise io.UnsupportedOperation("a stored object's body is immutable")

    def close(self) -> None:
        self.closed = True


class _KeySource:
    """A key's body read in chunks for ``DataStore.write_blob`` (each chunk under ``key.lock``, as moto reads it),
    hashing MD5 on the way when the key has no ETag yet."""

    def __init__(self, key: FakeKey) -> None:
        self.key = key
        self.position = 0
        self.md5 = hashlib.md5(usedforsecurity=False) if key._etag is None else None

    def read(self, size: int = -1) -> bytes:
        with self.key.lock:
            buffer = self.key._value_buffer
            buffer.seek(self.position)
            chunk: bytes = buffer.read(size)
        self.position += len(chunk)
        if self.md5 is not None:
            self.md5.update(chunk)
        return chunk


class _Gone(Exception):
    """The key's body was disposed of (a newer change replaced the key) while it was being stored."""


def _stored_body(store: DataStore, key: FakeKey) -> Blob:
    """The key's body as a blob of ``store``, written (and the key switched to read it) unless it already is."""
    blob: Blob | None = getattr(key, _BLOB, None)
    if blob is not None and store.blob_path(blob.id).is_file():
        return blob
    source = _KeySource(key)
    try:
        blob = store.write_blob(cast(BinaryIO, source))
    except ValueError as error:  # reading a closed buffer
        raise _Gone() from error
    if source.md5 is not None and key._etag is None:
        key._etag = source.md5.hexdigest()
    _read_from_blob(key, store.blob_path(blob.id), blob)
    return blob


def _read_from_blob(key: FakeKey, path: Path, blob: Blob) -> None:
    with key.lock:
        previous = key._value_buffer
        if previous.closed:
            return  # disposed of meanwhile (replaced by a newer change): leave it so
        key._value_buffer = _BlobBody(str(path), blob.size)  # type: ignore[assignment]
        setattr(key, _BLOB, blob)
        if previous is not key._value_buffer:
            previous.close()


# ------------------------------------------------------------------------------------------------ encoding


def _encode_acl(acl: FakeAcl | None) -> str:
    """The ACL's grants as compact JSON text (kept as a string in the record, so restoring equal ACLs is a
    dictionary look-up)."""
    grants = None if acl is None else [
        [[[g.id, g.uri, g.display_name] for g in grant.grantees], list(grant.permissions)] for grant in acl.grants]
    return json.dumps(grants, separators=(",", ":"))


@functools.lru_cache(maxsize=64)
def _decode_acl(encoded: str) -> FakeAcl | None:
    """moto shares ACL objects between keys (a bucket's ACL becomes each new key's) and replaces, never edits,
    them; so equal ACLs are restored as one object."""
    from moto.s3.models import FakeAcl, FakeGrant, FakeGrantee

    grants = json.loads(encoded)
    if grants is None:
        return None
    return FakeAcl([FakeGrant([FakeGrantee(i, u, d) for i, u, d in grantees], permissions)
                    for grantees, permissions in grants])


def _encode(backend: S3Backend, key: FakeKey, blob: Blob) -> bytes:
    expiry = key._expiry
    value: dict[str, Any] = {
        "format": FORMAT,
        "blob": blob.id,
        "size": blob.size,
        "etag": key._etag,
        "lastModified": key.last_modified.isoformat(),
        "metadata": dict(key.metadata.items()),
        "storageClass": key._storage_class,
        "versionId": key._version_id,
        "versioned": key._is_versioned,
        "encryption": key.encryption,
        "kmsKeyId": key.kms_key_id,
        "bucketKeyEnabled": key.bucket_key_enabled,
        "checksum": [key.checksum_algorithm, key.checksum_value, key.checksum_type, key.checksum_parts],
        "websiteRedirectLocation": key.website_redirect_location,
        "lock": [key.lock_mode, key.lock_legal_status, key.lock_until],
        "expiry": None if expiry is None else expiry.isoformat(),
        "restoreStatus": key._status,
        "acl": _encode_acl(key.acl),
        "tags": backend.tagger.get_tag_dict_for_resource(key.arn),
    }
    return json.dumps(value, separators=(",", ":")).encode()


class _Restorer:
    """Builds restored keys quickly: ``FakeKey.__init__`` costs tens of microseconds (an ACL, a state machine, a
    spooled file, a lower-casing dict filled one item at a time), so each bucket's keys start from the attributes
    of one key made by moto, and every attribute a stored object has is then set from its record."""

    def __init__(self, store: DataStore) -> None:
        self.store = store
        self.buckets: dict[str, tuple[S3Backend, FakeBucket] | None] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.blob_directories: dict[str, str] = {}

    def bucket(self, name: str) -> tuple[S3Backend, FakeBucket] | None:
        if name not in self.buckets:
            self.buckets[name] = _locate(name)
        return self.buckets[name]

    def template(self, backend: S3Backend, bucket: FakeBucket) -> dict[str, Any]:
        from moto.s3.models import FakeKey

        if bucket.name not in self.templates:
            key = FakeKey(name="", value=b"", account_id=backend.account_id, region_name=backend.region_name,
                          bucket_name=bucket.name)
            key.dispose()
            self.templates[bucket.name] = {k: v for k, v in key.__dict__.items() if k not in ("_value_buffer", "lock")}
        return self.templates[bucket.name]

    def blob_path(self, blob_id: str) -> str:
        """``store.blob_path`` as text, without a ``Path`` per blob."""
        prefix = blob_id[:2]
        directory = self.blob_directories.get(prefix)
        if directory is None:
            path = self.store.blob_path(blob_id)
            directory = self.blob_directories[prefix] = str(path.parent)
            assert path.name == blob_id, "a blob file is named by its id"
        return f"{directory}{os.sep}{blob_id}"

    def key(self, backend: S3Backend, bucket: FakeBucket, name: str, value: dict[str, Any]) -> FakeKey:
        from moto.s3.models import FakeKey
        from moto.utilities.utils import LowercaseDict

        algorithm, checksum, checksum_type, parts = value["checksum"]
        lock_mode, legal_hold, lock_until = value["lock"]
        metadata = LowercaseDict()
        metadata.store = {k.lower(): v for k, v in value["metadata"].items()}
        blob = Blob(value["blob"], value["size"])
        key = cast("FakeKey", FakeKey.__new__(FakeKey))  # tracked by moto as any key it makes
        key.__dict__.update(self.template(backend, bucket))
        key.__dict__.update({
            "name": name,
            "last_modified": datetime.fromisoformat(value["lastModified"]),
            "acl": _decode_acl(value["acl"]),
            "website_redirect_location": value["websiteRedirectLocation"],
            "checksum_algorithm": algorithm,
            "_storage_class": value["storageClass"],
            "_metadata": metadata,
            "_expiry": None if value["expiry"] is None else datetime.fromisoformat(value["expiry"]),
            "_etag": value["etag"],
            "_version_id": value["versionId"],
            "_is_versioned": value["versioned"],
            "_value_buffer": _BlobBody(self.blob_path(blob.id), blob.size),
            _BLOB: blob,
            "contentsize": blob.size,
            "disposed": False,
            "lock": threading.Lock(),
            "encryption": value["encryption"],
            "kms_key_id": value["kmsKeyId"],
            "bucket_key_enabled": value["bucketKeyEnabled"],
            "lock_mode": lock_mode,
            "lock_legal_status": legal_hold,
            "lock_until": lock_until,
            "checksum_value": checksum,
            "checksum_type": checksum_type,
            "checksum_parts": parts,
            "_status": value["restoreStatus"],
        })
        return key


# ------------------------------------------------------------------------------------------------ recording


def _locate(bucket_name: str) -> tuple[S3Backend, FakeBucket] | None:
    """The backend (of whichever account) holding the bucket, and the bucket; ``None`` if there is none."""
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        return None
    partition, account = owner
    backend = s3_backends[account][partition]
    bucket = backend.buckets.get(bucket_name)
    return None if bucket is None else (backend, bucket)


def _current(bucket_name: str, name: str) -> tuple[S3Backend, FakeKey] | None:
    """The key's current version, if it is an object (not a delete marker, not gone)."""
    from moto.s3.models import FakeKey

    located = _locate(bucket_name)
    if located is None:
        return None
    backend, bucket = located
    key = bucket.keys.get(name)
    return (backend, key) if isinstance(key, FakeKey) else None


def _pending() -> dict[tuple[str, str], None]:
    pending: dict[tuple[str, str], None] | None = getattr(_scope, "pending", None)
    if pending is None:
        pending = _scope.pending = {}
    return pending


def _note(bucket_name: str | None, name: str | None) -> None:
    if bucket_name is None or name is None or durable.active() is None:
        return
    _pending()[(bucket_name, str(name))] = None


@contextmanager
def _changes() -> Iterator[None]:
    """Hooked calls nest (CopyObject calls put_object, a request calls several): the keys they change are
    recorded once, when the outermost ends, whether it succeeded or not (moto may have changed some)."""
    depth: int = getattr(_scope, "depth", 0)
    _scope.depth = depth + 1
    try:
        yield
    finally:
        _scope.depth = depth
        if depth == 0:
            pending, _scope.pending = _pending(), {}
            if pending:
                _record(list(pending))


def _record(names: list[tuple[str, str]]) -> None:
    store = durable.active()
    if store is None:
        return
    for bucket_name, name in names:  # the slow part, writing bodies, first and outside the lock
        current = _current(bucket_name, name)
        if current is not None:
            with suppress(_Gone):
                _stored_body(store, current[1])
    with _COMMIT_LOCK:
        store.apply([_change(store, bucket_name, name) for bucket_name, name in names])


def _change(store: DataStore, bucket_name: str, name: str) -> Put:
    for _ in range(100):
        current = _current(bucket_name, name)
        if current is None:
            return Put(KIND, record_key(bucket_name, name), None)
        backend, key = current
        try:
            blob = _stored_body(store, key)
        except _Gone:
            continue  # replaced while being read: record what replaced it
        return Put(KIND, record_key(bucket_name, name), _encode(backend, key, blob), blob=blob)
    raise RuntimeError(f"s3://{bucket_name}/{name} kept changing while it was being recorded")


# ------------------------------------------------------------------------------------------------ hooks


def _named(args: dict[str, Any], result: Any) -> list[tuple[str, str]]:
    return [(args["bucket_name"], args["key_name"])]


def _by_key(args: dict[str, Any], result: Any) -> list[tuple[str, str]]:
    key = args["key"]
    return [(key.bucket_name, key.name)]


# Backend methods that change objects, and which keys they changed (``None``: only what the calls it makes note).
_CHANGES: dict[str, _Changed | None] = {
    "put_object": _named,  # PutObject, presigned POST uploads, and the calls below
    "copy_object": lambda args, result: [(args["dest_bucket_name"], args["dest_key_name"])],
    "complete_multipart_upload": lambda args, result: [] if result is None else [(result.bucket_name, result.name)],
    "delete_object": lambda args, result: _named(args, result) if result[0] else [],
    "delete_objects": None,
    "put_object_acl": _named,
    "put_object_tagging": _by_key,
    "delete_object_tagging": _named,
    "put_object_legal_hold": _named,
    "put_object_retention": _named,
    "restore_object": _named,
}


def _hook(original: Callable[..., Any], changed: _Changed | None) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _changes():
            result = original(*args, **kwargs)
            if changed is not None and durable.active() is not None:
                for bucket_name, name in changed(signature.bind(*args, **kwargs).arguments, result):
                    _note(bucket_name, name)
            return result

    setattr(run, _INSTALLED, True)
    return run


def _request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _changes():
            return original(*args, **kwargs)

    setattr(run, _INSTALLED, True)
    return run


def _notifying(original: Callable[..., Any]) -> Callable[..., Any]:
    """Before moto sends an event about a key, record the key's state, so no consumer hears of an object that a
    crash could still lose (the record is written again, complete, when the request ends)."""

    @functools.wraps(original)
    def run(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        name = getattr(key, "name", None)
        configuration = getattr(bucket, "notification_configuration", None)
        if name is not None and configuration is not None and durable.active() is not None and (
            configuration.event_bridge is not None
            or any(n.matches(event_name, name)
                   for n in (*configuration.queue, *configuration.topic, *configuration.cloud_function))
        ):
            _note(bucket.name, name)
            _record(list(_pending()))
            if getattr(_scope, "depth", 0) == 0:
                _scope.pending = {}
        original(account_id, event_name, bucket, key)

    setattr(run, _INSTALLED, True)
    return run


def install() -> None:
    """Hook moto's S3 backend, its request handlers and its event notifications (idempotent, thread-safe)."""
    from moto.s3 import notifications
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    with _INSTALL_LOCK:
        for name, changed in _CHANGES.items():
            original = getattr(S3Backend, name)
            if not getattr(original, _INSTALLED, False):
                setattr(S3Backend, name, _hook(original, changed))
        for name in ("key_response", "bucket_response"):
            original = getattr(S3Response, name)
            if not getattr(original, _INSTALLED, False):
                setattr(S3Response, name, _request(original))
        if not getattr(notifications.send_event, _INSTALLED, False):
            notifications.send_event = _notifying(notifications.send_event)


# ------------------------------------------------------------------------------------------------ restore


def restore(store: DataStore) -> None:
    """Put every stored object back as the current version of its key, reading its body from its blob file.
    Straight into the buckets' key stores: no notification is sent, no version id or ETag is made. Objects of
    buckets that do not exist (any more) are skipped, with a warning."""
    restorer = _Restorer(store)
    skipped: dict[str, int] = {}
    restored = 0
    with durable.restoring(), collection_paused():
        for stored_key, value in store.scan(KIND):
            bucket_name, _, name = stored_key.partition(SEPARATOR)
            located = restorer.bucket(bucket_name)
            if located is None:
                skipped[bucket_name] = skipped.get(bucket_name, 0) + 1
                continue
            backend, bucket = located
            record = json.loads(value)
            key = restorer.key(backend, bucket, name, record)
            if dict.get(bucket.keys, name) is None:
                dict.__setitem__(bucket.keys, name, [key])  # what setlist does when there is nothing to dispose of
            else:
                bucket.keys.setlist(name, [key])
            if record["tags"]:
                backend.tagger.tag_resource(key.arn, [{"Key": k, "Value": v} for k, v in record["tags"].items()])
            restored += 1
    for bucket_name, count in sorted(skipped.items()):
        log.warning("durable s3: %d stored object(s) of bucket %s skipped: the bucket does not exist",
                    count, bucket_name)
    log.info("durable s3: %d object(s) restored", restored)
