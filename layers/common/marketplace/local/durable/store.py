"""The data directory's storage: one SQLite database for records and a folder of immutable blob files.

Records are small values under ``(kind, key)`` (a DynamoDB item, an S3 object's metadata, a KMS key, a queue's
messages, a stream's records, a poller's checkpoint). Each write is one SQLite transaction in WAL mode with
``synchronous=FULL``: when ``put`` returns, the change is on disk, so the emulator may answer the request that
made it. Blobs (object bodies) are files named by their SHA-256, written to a temporary name, flushed with
``fsync`` and renamed, so a blob file is either whole or absent; a blob is never rewritten in place, and one
no record refers to is removed only by ``collect_garbage`` (at start-up, before anything is served), which
keeps a backup taken while serving consistent (``backup.py``).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

DATABASE = "state.sqlite3"
BLOBS = "blobs"
_CHUNK = 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_refs (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_refs_by_blob ON blob_refs (blob);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""


class StorageFull(OSError):
    """A write failed for lack of space (or quota): nothing of it was kept."""


@dataclass(frozen=True)
class Blob:
    """An immutable body: its SHA-256 (its file name) and size."""

    id: str
    size: int


@dataclass(frozen=True)
class Put:
    """One record change for ``DataStore.apply``: ``value`` ``None`` deletes. ``blob`` ties the record to a
    body (an S3 object's), so integrity checks and backups know which blob files must exist."""

    kind: str
    key: str
    value: bytes | None
    blob: Blob | None = None


def _is_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (28, 122):  # ENOSPC, EDQUOT
        return True
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error).lower()


class DataStore:
    """Records and blobs of one data directory. Thread-safe: the emulator serves requests on many threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blob_directory = directory / BLOBS
        self.blob_directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(directory / DATABASE, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.writes = 0  # committed transactions, for reports and benchmarks

    # ------------------------------------------------------------------ records

    def apply(self, changes: Iterable[Put]) -> None:
        """Commit ``changes`` as one transaction; durable when this returns. ``StorageFull`` when the disk is."""
        changes = list(changes)
        if not changes:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for change in changes:
                    if change.value is None:
                        self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (change.kind, change.key))
                        self._db.execute("DELETE FROM blob_refs WHERE kind = ? AND key = ?", (change.kind, change.key))
                        continue
                    self._db.execute("INSERT OR REPLACE INTO records (kind, key, value) VALUES (?, ?, ?)",
                                     (change.kind, change.key, change.value))
                    if change.blob is not None:
                        self._db.execute("INSERT OR REPLACE INTO blob_refs (kind, key, blob, size) VALUES (?, ?, ?, ?)",
                                         (change.kind, change.key, change.blob.id, change.blob.size))
                    else:
                        self._db.execute("DELETE FROM blob_refs WHERE kind = ? AND key = ?", (change.kind, change.key))
                self._db.execute("COMMIT")
                self.writes += 1
            except BaseException as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if _is_full(error):
                    raise StorageFull(28, f"the data directory {self.directory} is full: {error}") from error
                raise

    def put(self, kind: str, key: str, value: bytes | None, blob: Blob | None = None) -> None:
        self.apply([Put(kind, key, value, blob)])

    def get(self, kind: str, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else bytes(row[0])

    def scan(self, kind: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """Every record of ``kind`` (whose key starts with ``prefix``), in key order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM records WHERE kind = ? AND key >= ? AND key < ? ORDER BY key",
                (kind, prefix, prefix + "\U0010ffff"),
            ).fetchall()
        for key, value in rows:
            yield key, bytes(value)

    def delete_kind(self, kind: str, prefix: str = "") -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM records WHERE kind = ? AND key >= ? AND key < ?",
                             (kind, prefix, prefix + "\U0010ffff"))
            self._db.execute("DELETE FROM blob_refs WHERE kind = ? AND key >= ? AND key < ?",
                             (kind, prefix, prefix + "\U0010ffff"))
            self._db.execute("COMMIT")

    def meta(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    # ------------------------------------------------------------------ blobs

    def blob_path(self, blob_id: str) -> Path:
        return self.blob_directory / blob_id[:2] / blob_id

    def write_blob(self, source: bytes | BinaryIO) -> Blob:
        """Store a body (bytes or a readable file, read in chunks) as an immutable, fsynced blob file."""
        digest = hashlib.sha256()
        descriptor, temporary = tempfile.mkstemp(dir=self.blob_directory, prefix=".incoming-")
        size = 0
        try:
            with os.fdopen(descriptor, "wb") as out:
                if isinstance(source, bytes | bytearray | memoryview):
                    digest.update(source)
                    out.write(source)
                    size = len(source)
                else:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            blob = Blob(digest.hexdigest(), size)
            path = self.blob_path(blob.id)
            if path.exists() and path.stat().st_size == size:
                return blob  # the same body is already stored, whole
            path.parent.mkdir(exist_ok=True)
            Path(temporary).replace(path)
            _fsync_directory(path.parent)
            return blob
        except OSError as error:
            if _is_full(error):
                raise StorageFull(28, f"the data directory {self.directory} is full: {error}") from error
            raise
        finally:
            Path(temporary).unlink(missing_ok=True)

    def referenced_blobs(self) -> Iterator[tuple[str, str, str, int]]:
        """``(kind, key, blob id, size)`` for every record that refers to a blob."""
        with self._lock:
            rows = self._db.execute("SELECT kind, key, blob, size FROM blob_refs ORDER BY blob").fetchall()
        yield from ((str(k), str(key), str(b), int(s)) for k, key, b, s in rows)

    def collect_garbage(self, older_than: float = 0.0) -> int:
        """Remove blob files no record refers to (and leftover temporary files) whose last change is more than
        ``older_than`` seconds ago; returns how many. Run when nothing is being written (start-up)."""
        with self._lock:
            live = {str(b) for (b,) in self._db.execute("SELECT DISTINCT blob FROM blob_refs")}
        removed, now = 0, time.time()
        for path in self.blob_directory.rglob("*"):
            if not path.is_file() or path.name in live:
                continue
            if now - path.stat().st_mtime >= older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # ------------------------------------------------------------------ whole database

    def quick_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA quick_check").fetchone()[0])

    def backup_to(self, path: Path) -> None:
        """A consistent copy of the database (SQLite's online backup), taken while others keep writing."""
        target = sqlite3.connect(path)
        try:
            with self._lock:
                self._db.backup(target)
        finally:
            target.close()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold every write while the block runs (a backup's moment of consistency)."""
        with self._lock:
            yield

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
