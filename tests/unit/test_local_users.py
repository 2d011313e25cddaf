"""The local runtime's named users (``identity.local_users``): scrypt hashes in a 0600 JSON file that is
replaced whole on every change, canonical names, and checks that take as long for a name that is no user."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from pathlib import Path

import pytest

from marketplace.identity import local_users

PASSWORD = "correct horse battery"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / local_users.USERS_FILE


def test_a_user_is_kept_as_an_scrypt_hash(path: Path) -> None:
    assert local_users.add(path, "alice", PASSWORD) == "alice"
    document = json.loads(path.read_text())
    record = document["users"]["alice"]
    assert set(record) == {"hash", "created"} and record["created"].endswith("Z")
    scheme, n, r, p, salt, key = record["hash"].split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    salt_bytes, key_bytes = base64.b64decode(salt), base64.b64decode(key)
    assert len(salt_bytes) == 16 and len(key_bytes) == 32
    assert key_bytes == hashlib.scrypt(PASSWORD.encode(), salt=salt_bytes, n=16384, r=8, p=1, dklen=32)
    assert PASSWORD not in path.read_text()
    # a new salt each time: the same password never hashes alike
    assert local_users.hash_password(PASSWORD) != local_users.hash_password(PASSWORD)


def test_verify_answers_the_canonical_name_only_for_the_right_password(path: Path) -> None:
    local_users.add(path, "Alice@Example.COM", PASSWORD)
    assert local_users.names(path) == ["alice@example.com"]
    assert local_users.verify(path, "  ALICE@example.com ", PASSWORD) == "alice@example.com"
    assert local_users.verify(path, "alice@example.com", PASSWORD + "!") is None
    assert local_users.verify(path, "alice@example.com", "") is None
    assert local_users.verify(path, "bob", PASSWORD) is None  # unknown
    assert local_users.verify(path, "", PASSWORD) is None  # no name at all
    assert local_users.verify(path, "alice@example.com", "x" * 5000) is None


def test_an_unknown_user_costs_a_hash_too(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_users.add(path, "alice", PASSWORD)
    calls: list[bytes] = []
    real = hashlib.scrypt

    def counted(password: bytes, **kwargs: object) -> bytes:
        calls.append(password)
        return real(password, **kwargs)  # type: ignore[arg-type]

    local_users._dummy_hash()
    monkeypatch.setattr(hashlib, "scrypt", counted)
    for user in ("alice", "nobody", "not a name"):
        calls.clear()
        local_users.verify(path, user, "guess-guess-guess")
        assert calls == [b"guess-guess-guess"], user


def test_a_missing_file_has_no_users(path: Path) -> None:
    assert local_users.names(path) == [] and local_users.read(path) == {}
    assert local_users.verify(path, "alice", PASSWORD) is None
    assert not path.parent.exists()  # reading makes nothing


@pytest.mark.parametrize("text", ["not json", "[]", '{"users": []}', '{"users": {"a": {"hash": 1}}}'])
def test_a_damaged_file_is_an_error_not_an_empty_list(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(local_users.UsersFileError, match="local users file"):
        local_users.verify(path, "alice", PASSWORD)
    with pytest.raises(local_users.UsersFileError):
        local_users.add(path, "alice", PASSWORD)
    assert path.read_text() == text  # left as it was


def test_a_malformed_hash_never_matches(path: Path) -> None:
    path.parent.mkdir(parents=True)
    for hashed in ("", "plain", "scrypt$16384$8$1$$", "scrypt$3$8$1$AAAAAAAAAAA=$" + "A" * 44,
                   "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44, "bcrypt$x"):
        path.write_text(json.dumps({"users": {"alice": {"hash": hashed}}}))
        assert local_users.verify(path, "alice", PASSWORD) is None, hashed


def test_the_file_is_private_and_replaced_whole(path: Path) -> None:
    local_users.add(path, "alice", PASSWORD)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    inode = path.stat().st_ino
    local_users.set_password(path, "alice", "another password!")
    assert path.stat().st_ino != inode and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [local_users.USERS_FILE]  # no temporary file left
    assert local_users.verify(path, "alice", "another password!") == "alice"
    assert local_users.verify(path, "alice", PASSWORD) is None
    record = json.loads(path.read_text())["users"]["alice"]
    assert "changed" in record and "created" in record


def test_concurrent_writers_each_leave_a_valid_file_with_every_user(path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_users, "SCRYPT_N", 2**10)  # cheap hashes: many writers at once
    names = [f"user{i}" for i in range(16)]
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:  # a reader never sees half a file
        while not stop.is_set():
            seen.extend(local_users.names(path))

    watching = threading.Thread(target=reader)
    watching.start()
    try:
        writers = [threading.Thread(target=local_users.add, args=(path, name, PASSWORD)) for name in names]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    finally:
        stop.set()
        watching.join()
    assert local_users.names(path) == sorted(names)
    assert set(seen) <= set(names)
    assert all(local_users.verify(path, name, PASSWORD) == name for name in names[:2])


def test_add_password_remove_and_their_refusals(path: Path) -> None:
    local_users.add(path, "bob@example.com", PASSWORD)
    with pytest.raises(local_users.UserExists, match="exists already"):
        local_users.add(path, "BOB@example.com", "some other password")
    assert issubclass(local_users.UserExists, ValueError)
    with pytest.raises(local_users.UnknownUser, match="no local user carol"):
        local_users.set_password(path, "carol", PASSWORD)
    with pytest.raises(local_users.UnknownUser):
        local_users.remove(path, "carol")
    with pytest.raises(ValueError, match="at least 12 characters"):
        local_users.add(path, "carol", "short")
    with pytest.raises(ValueError, match="at least 12 characters"):
        local_users.set_password(path, "bob@example.com", "short")
    assert local_users.remove(path, " Bob@Example.com") == "bob@example.com"
    assert local_users.names(path) == []


@pytest.mark.parametrize(("user", "name"), [
    ("alice", "alice"), ("  Alice ", "Alice"), ("Alice@Example.COM", "alice@example.com"),
    ("x" * 254, "x" * 254), ("dev-team_1", "dev-team_1"),
])
def test_names_are_canonical(user: str, name: str) -> None:
    assert local_users.canonical(user) == name


@pytest.mark.parametrize("user", ["", "   ", "x" * 255, "two words", "tab\there", "bell\x07", "nbsp\u00a0x"])
def test_unusable_names(user: str, path: Path) -> None:
    with pytest.raises(ValueError, match="1 to 254 printable characters without spaces"):
        local_users.canonical(user)
    with pytest.raises(ValueError):
        local_users.add(path, user, PASSWORD)
    assert not path.exists()
