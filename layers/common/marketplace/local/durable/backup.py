"""Backup and restore of a data directory, while ``marketplace serve`` keeps serving from it.

A backup is consistent without stopping the server because of two rules of the store: a record that names a blob
is committed only after the blob file is whole on disk, and blob files are never rewritten or removed while a
server runs (unreferenced ones are collected at the next start-up). So a copy of the database taken with SQLite's
online backup API at one instant, plus the blob files that copy names, is the state at that instant. The backup is
itself a data directory (``FORMAT``, ``state.sqlite3``, ``blobs/``, the issuer key, the TLS files), checked after
it is written; restoring copies it into a new directory and checks every blob's hash.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from marketplace.local.durable import directory as d
from marketplace.local.durable.store import BLOBS, DATABASE, DataStore


@dataclass(frozen=True)
class Copied:
    records: int
    blobs: int
    bytes: int


def _count_records(database: Path) -> int:
    connection = sqlite3.connect(database)
    try:
        return int(connection.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        connection.close()


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(target)


def _require_empty(target: Path) -> None:
    if target.exists() and any(target.iterdir()):
        raise d.DataDirectoryError(f"{target} is not empty; give a new or empty directory")
    d.private(target)


def _copy_directory(source: Path, target: Path, *, verify: bool,
                    progress: Callable[[int, int], None] | None = None) -> Copied:
    """Copy the data directory ``source`` into the empty ``target``: database first (online backup), then the blobs
    that copy refers to, then the side files."""
    found = d.read_format(source)
    if found is None or not (source / DATABASE).exists():
        raise d.DataDirectoryError(f"{source} is not a marketplace data directory or backup (no {d.FORMAT_FILE} or "
                                   f"{DATABASE})")
    if int(str(found["format"])) > d.FORMAT:
        raise d.DataDirectoryError(f"{source} has data format {found['format']}; this marketplace reads format "
                                   f"{d.FORMAT} at most: use the newer marketplace")
    _require_empty(target)
    # the database, at one instant (readers do not block the serving process in WAL mode)
    origin = sqlite3.connect(source / DATABASE)
    copy = sqlite3.connect(target / DATABASE)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()
    store = DataStore(target)
    try:
        referenced = {(blob, size) for _, _, blob, size in store.referenced_blobs()}
        total = len(referenced)
        copied_bytes = 0
        for done, (blob, size) in enumerate(sorted(referenced), start=1):
            origin_blob = source / BLOBS / blob[:2] / blob
            target_blob = store.blob_path(blob)
            try:
                _copy_file(origin_blob, target_blob)
            except FileNotFoundError:
                raise d.DataDirectoryError(f"{origin_blob} is missing from {source}; the copy is incomplete") from None
            copied_bytes += size
            if progress:
                progress(done, total)
        for name in (d.ISSUER_KEY_FILE, d.USERS_FILE):
            if (source / name).exists():
                _copy_file(source / name, target / name)
                (target / name).chmod(0o600)
        if (source / d.TLS_DIRECTORY).is_dir():
            for item in (source / d.TLS_DIRECTORY).iterdir():
                if item.is_file():
                    _copy_file(item, target / d.TLS_DIRECTORY / item.name)
                    (target / d.TLS_DIRECTORY / item.name).chmod(item.stat().st_mode & 0o777)
        problems = d.check_integrity(store, full=verify)
        if problems:
            raise d.DataDirectoryError(d.damage_report(target, problems))
        d.write_format(target, int(str(found["format"])))
        return Copied(_count_records(target / DATABASE), total, copied_bytes)
    finally:
        store.close()


def backup(source: Path, target: Path, *, progress: Callable[[int, int], None] | None = None) -> Copied:
    """A consistent backup of the data directory ``source`` (served or not) into the new directory ``target``."""
    return _copy_directory(source.expanduser().resolve(), target.expanduser().resolve(), verify=False,
                           progress=progress)


def restore(source: Path, target: Path, *, progress: Callable[[int, int], None] | None = None) -> Copied:
    """Restore the backup ``source`` into the new data directory ``target``, checking every blob's hash."""
    target = target.expanduser().resolve()
    if target.exists() and d.DirectoryLock.holder(target) is not None:
        raise d.DataDirectoryError(f"{target} is in use by a running marketplace serve; stop it first")
    return _copy_directory(source.expanduser().resolve(), target, verify=True, progress=progress)
