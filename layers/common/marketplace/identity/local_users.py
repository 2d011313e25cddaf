"""The local runtime's named users: who its own issuer's sign-in page signs in, each with a password.

The operator creates them with ``marketplace user add NAME``; they live in ``local-users.json`` next to the
issuer's key (in the data directory), mode 0600::

    {"users": {"alice@example.com": {"hash": "scrypt$16384$8$1$<salt>$<key>", "created": "2025-...Z"}}}

Passwords are hashed with scrypt (n 2**14, r 8, p 1, a 16-byte random salt, a 32-byte key; salt and key in
base64) and compared in constant time. The file is re-read on every check, since the CLI edits it while the
runtime serves, and always replaced whole (a temporary file renamed over it), so a reader never sees half of
it; writers take turns through a ``flock`` on the directory.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

USERS_FILE = "local-users.json"
MAX_USER_LENGTH = 254
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
SCHEME = "scrypt"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
# What a record's own parameters may ask for (the file is the operator's; still, no check may take the host down)
MAX_SCRYPT_MEMORY, MAX_SCRYPT_P = 128 << 20, 4

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_dummy: str | None = None  # the record an unknown user's password is checked against, so it takes as long


class UsersFileError(ValueError):
    """The users file exists and cannot be read or is not a users file."""


class UserExists(ValueError):
    """``add`` of a user name that is already taken (a conflict)."""


class UnknownUser(ValueError):
    """A change to a user that is not in the file."""


def beside(issuer_key: Path) -> Path:
    """The users file that goes with the issuer key at ``issuer_key``: in the same directory."""
    return issuer_key.parent / USERS_FILE


def canonical(user: str) -> str:
    """``user`` as the file and the issuer's tokens name it: without surrounding blanks, 1 to 254 printable
    characters with no blank among them, an e-mail address lower-cased. ValueError otherwise."""
    user = user.strip()
    if not 0 < len(user) <= MAX_USER_LENGTH or not user.isprintable() or any(c.isspace() for c in user):
        raise ValueError(f"a user name or e-mail address is 1 to {MAX_USER_LENGTH} printable characters "
                         "without spaces")
    return user.lower() if _EMAIL.fullmatch(user) else user


def check_password(password: str) -> None:
    """ValueError unless ``password`` is an acceptable new password (the message never repeats it)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<key>`` for ``password``, with a new random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return "$".join((SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)))


def matches(hashed: str, password: str) -> bool:
    """Whether ``password`` is the one ``hashed`` (a ``hash_password`` text) was made from; False for a text
    that is no such hash."""
    parsed = _parse_hash(hashed)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(key)), key)


# --- the file --------------------------------------------------------------------------------------------------


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The users in the file at ``path`` by name (none when there is no file); UsersFileError when it cannot be
    read or is not a users file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise UsersFileError(f"the local users file {path} cannot be read: {error}") from error
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UsersFileError(f"the local users file {path} is not JSON: {error}") from error
    users = document.get("users") if isinstance(document, dict) else None
    if not isinstance(users, dict) or not all(
            isinstance(name, str) and isinstance(record, dict) and isinstance(record.get("hash"), str)
            for name, record in users.items()):
        raise UsersFileError(f"the local users file {path} is not a users file "
                             '({"users": {NAME: {"hash": ...}}})')
    return users


def names(path: Path) -> list[str]:
    """The user names in the file at ``path``, sorted."""
    return sorted(read(path))


def add(path: Path, user: str, password: str) -> str:
    """Add ``user`` with ``password``; its canonical name. UserExists when the name is taken, ValueError for
    an unusable name or password."""
    name = canonical(user)
    check_password(password)
    hashed = hash_password(password)  # before the lock: the slow part keeps no other writer waiting
    with _writing(path) as users:
        if name in users:
            raise UserExists(f"the local user {name} exists already (change the password with: marketplace user "
                             f"password {name})")
        users[name] = {"hash": hashed, "created": _now()}
    return name


def set_password(path: Path, user: str, password: str) -> str:
    """Give ``user`` the password ``password``; its canonical name. UnknownUser when there is no such user."""
    name = canonical(user)
    check_password(password)
    hashed = hash_password(password)
    with _writing(path) as users:
        if name not in users:
            raise UnknownUser(f"there is no local user {name}")
        users[name] = {**users[name], "hash": hashed, "changed": _now()}
    return name


def remove(path: Path, user: str) -> str:
    """Remove ``user``; its canonical name. UnknownUser when there is no such user."""
    name = canonical(user)
    with _writing(path) as users:
        if users.pop(name, None) is None:
            raise UnknownUser(f"there is no local user {name}")
    return name


def verify(path: Path, user: str, password: str) -> str | None:
    """The canonical name of ``user`` when ``password`` is theirs, else None. As slow for a name that is no
    user (or no name at all) as for one that is, so the time taken does not tell which names exist."""
    dummy = _dummy_hash()  # made on the first check of all, whoever it is for
    try:
        name: str | None = canonical(user)
    except ValueError:
        name = None
    record = read(path).get(name) if name is not None else None
    hashed = record.get("hash") if record is not None else None
    if not isinstance(hashed, str) or _parse_hash(hashed) is None or len(password) > MAX_PASSWORD_LENGTH:
        matches(dummy, password[:MAX_PASSWORD_LENGTH])
        return None
    return name if matches(hashed, password) else None


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The users, to change in place; written back (atomically, mode 0600) when the block ends without an
    error. One writer at a time: a ``flock`` on the directory, held from the read to the rename."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        users = read(path)
        yield users
        _write(path, users)
    finally:
        os.close(descriptor)  # releases the lock


def _write(path: Path, users: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"users": dict(sorted(users.items()))}, indent=2) + "\n"
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)  # os.replace: atomic, over the old file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


# --- hashing ---------------------------------------------------------------------------------------------------


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=128 * n * r + 128 * r * p + (1 << 20))


def _parse_hash(hashed: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(part.isdigit() for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    if not (n > 1 and n & (n - 1) == 0 and r > 0 and 128 * n * r <= MAX_SCRYPT_MEMORY and 0 < p <= MAX_SCRYPT_P):
        return None
    try:
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        return None
    return n, r, p, salt, key


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None:
        _dummy = hash_password(secrets.token_urlsafe(16))
    return _dummy


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
