"""The data directory as a whole: where it is, its lock, its format version and its integrity check.

Layout of ``DIR``::

    FORMAT              {"format": N, "written_by": "<product version>"}: what the directory holds and who wrote it
    lock                held (``flock``) by the one ``marketplace serve`` using the directory; names its pid
    state.sqlite3       records (``store.py``), with its WAL files beside it
    blobs/ab/abcd...    object bodies, named by their SHA-256
    issuer-key.pem      the local OIDC issuer's signing key
    local-users.json    the named local users its sign-in page signs in (``marketplace user add``), scrypt hashes
    tls/                the local CA and server certificate (``serve --tls``)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

from marketplace.identity.local_users import USERS_FILE as USERS_FILE
from marketplace.local.durable.store import DATABASE, DataStore

FORMAT_FILE = "FORMAT"
LOCK_FILE = "lock"
ISSUER_KEY_FILE = "issuer-key.pem"
TLS_DIRECTORY = "tls"
FORMAT = 1
DATA_DIR_VARIABLE = "MARKETPLACE_DATA_DIR"

# Upgrades, by the format they start from: each turns a directory of format N into format N + 1, in place, and
# must be safe to run again if interrupted. Format 1 is the first; later formats add their step here.
MIGRATIONS: dict[int, Callable[[Path], None]] = {}


class DataDirectoryError(Exception):
    """The data directory cannot be used as it is; the message says why and what to do."""


def default_directory() -> Path:
    """``MARKETPLACE_DATA_DIR``, else ``$XDG_DATA_HOME/marketplace``, else ``~/.local/share/marketplace``."""
    if os.environ.get(DATA_DIR_VARIABLE):
        return Path(os.environ[DATA_DIR_VARIABLE]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "marketplace"


def private(path: Path) -> None:
    """Make ``path`` (a data directory or a backup) if needed, readable by its owner only: it holds the KMS key
    material, the sign-in key and every token hash."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def product_version() -> str:
    try:
        return metadata.version("marketplace")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a tree that was never installed
        return "unknown"


class DirectoryLock:
    """An exclusive ``flock`` on ``DIR/lock``. The kernel drops it when the process dies, however it dies, so a
    lock left by a crash is taken over by the next start; the pid inside only names the holder in messages."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise DataDirectoryError(
                    f"{self.path.parent} is in use by another marketplace serve (pid {holder}); stop that one first, "
                    "or give this one another --data-dir") from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    @staticmethod
    def holder(directory: Path) -> int | None:
        """The pid of the process holding ``directory``'s lock, or ``None`` when no process holds it."""
        path = directory / LOCK_FILE
        if not path.exists():
            return None
        with path.open("r") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                text = handle.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return None


def read_format(directory: Path) -> dict[str, object] | None:
    path = directory / FORMAT_FILE
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DataDirectoryError(f"{path} is damaged ({error}); restore a backup: marketplace restore BACKUP "
                                 f"--data-dir {directory}") from None
    if not isinstance(value, dict) or not isinstance(value.get("format"), int):
        raise DataDirectoryError(f"{path} does not name a format; restore a backup: marketplace restore BACKUP "
                                 f"--data-dir {directory}")
    return value


def write_format(directory: Path, version: int = FORMAT) -> None:
    path = directory / FORMAT_FILE
    temporary = path.with_name(f".{FORMAT_FILE}.tmp")
    with temporary.open("w") as out:
        json.dump({"format": version, "written_by": product_version()}, out)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def check_format(directory: Path) -> None:
    """Initialize an empty directory; upgrade an older format; refuse a newer one or one that is not a data
    directory, naming what to do."""
    found = read_format(directory)
    if found is None:
        # may be made before the first start finishes (the users file by ``marketplace user add``, even before it)
        side_files = {LOCK_FILE, ISSUER_KEY_FILE, USERS_FILE, TLS_DIRECTORY}
        others = [p.name for p in directory.iterdir() if p.name not in side_files]
        if others:
            raise DataDirectoryError(
                f"{directory} is not empty and is not a marketplace data directory (no {FORMAT_FILE} file; it "
                f"holds {', '.join(sorted(others)[:5])}); choose an empty or new directory for --data-dir")
        write_format(directory)
        return
    version = int(str(found["format"]))
    if version > FORMAT:
        raise DataDirectoryError(
            f"{directory} has data format {version}, written by marketplace {found.get('written_by', 'unknown')}; "
            f"this marketplace ({product_version()}) reads format {FORMAT} at most. Run the newer marketplace, or "
            f"restore a backup made by this version into a new directory: marketplace restore BACKUP --data-dir NEW")
    while version < FORMAT:
        step = MIGRATIONS.get(version)
        if step is None:
            raise DataDirectoryError(
                f"{directory} has data format {version}, which this marketplace ({product_version()}) cannot "
                f"upgrade; run a marketplace release that reads format {version} and take a backup with it")
        step(directory)
        version += 1
        write_format(directory, version)


@dataclass
class Damage:
    path: Path
    problem: str


def check_integrity(store: DataStore, *, full: bool = False) -> list[Damage]:
    """What is damaged: the database's own check, then every blob a record refers to (present, whole; with
    ``full``, its SHA-256 too). Fast by default: a ``stat`` per object."""
    problems: list[Damage] = []
    result = store.quick_check()
    if result != "ok":
        problems.append(Damage(store.directory / DATABASE, f"the database check failed: {result}"))
        return problems
    for kind, key, blob, size in store.referenced_blobs():
        path = store.blob_path(blob)
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            problems.append(Damage(path, f"missing (the body of {kind} {key.replace(chr(31), '/')})"))
            continue
        if actual != size:
            problems.append(Damage(path, f"{actual} bytes instead of {size} (the body of {kind} "
                                         f"{key.replace(chr(31), '/')})"))
        elif full and _sha256(path) != blob:
            problems.append(Damage(path, f"its content does not match its hash (the body of {kind} "
                                         f"{key.replace(chr(31), '/')})"))
    return problems


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def damage_report(directory: Path, problems: list[Damage], limit: int = 20) -> str:
    lines = [f"the data directory {directory} is damaged:"]
    lines += [f"  {p.path}: {p.problem}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    lines.append(f"Restore the latest backup (marketplace restore BACKUP --data-dir NEW_DIR), or drop what is damaged "
                 f"and keep the rest: marketplace data repair --data-dir {directory}")
    return "\n".join(lines)


@dataclass
class DataDirectory:
    """An opened data directory: locked, at the current format, checked."""

    path: Path
    store: DataStore
    lock: DirectoryLock

    @property
    def issuer_key(self) -> Path:
        return self.path / ISSUER_KEY_FILE

    @property
    def users_file(self) -> Path:
        return self.path / USERS_FILE

    @property
    def tls_directory(self) -> Path:
        return self.path / TLS_DIRECTORY

    def close(self) -> None:
        self.store.close()
        self.lock.release()


def open_directory(path: Path) -> DataDirectory:
    """Lock ``path`` (made if missing), check or upgrade its format, open its store and check it. Raises
    ``DataDirectoryError`` with what to do when any of that fails; nothing is served from a damaged directory."""
    path = path.expanduser().resolve()
    try:
        private(path)
    except OSError as error:
        raise DataDirectoryError(f"cannot create the data directory {path}: {error.strerror}") from None
    lock = DirectoryLock(path)
    lock.acquire()
    try:
        check_format(path)
        try:
            store = DataStore(path)
        except sqlite3.DatabaseError as error:
            raise DataDirectoryError(damage_report(path, [Damage(path / DATABASE, f"the database cannot be opened: "
                                                                                   f"{error}")])) from None
        problems = check_integrity(store)
        if problems:
            store.close()
            raise DataDirectoryError(damage_report(path, problems))
        store.collect_garbage()
    except BaseException:
        lock.release()
        raise
    return DataDirectory(path, store, lock)


def drop_damaged(store: DataStore) -> list[tuple[str, str]]:
    """Delete the records whose body is missing or damaged (hash checked); returns ``(kind, key)`` of each."""
    from marketplace.local.durable.store import Put

    damaged: list[tuple[str, str]] = []
    for kind, key, blob, size in store.referenced_blobs():
        path = store.blob_path(blob)
        try:
            whole = path.stat().st_size == size and _sha256(path) == blob
        except FileNotFoundError:
            whole = False
        if not whole:
            damaged.append((kind, key))
    store.apply(Put(kind, key, None) for kind, key in damaged)
    return damaged
