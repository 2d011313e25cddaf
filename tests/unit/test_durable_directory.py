"""The data directory without moto: the store's records and blobs, the lock, the format check and upgrades, the
integrity check, backup and restore, repair."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from marketplace.local.durable import backup, directory
from marketplace.local.durable.store import DataStore, Put


def _filled(path: Path) -> directory.DataDirectory:
    opened = directory.open_directory(path)
    store = opened.store
    one, two = store.write_blob(b"one" * 1000), store.write_blob(b"two")
    store.apply([Put("s3", "bucket\x1fa", b'{"k": "a"}', one), Put("s3", "bucket\x1fb", b'{"k": "b"}', two),
                 Put("dynamodb", "t\x1f{}", b"item")])
    return opened


def test_records_commit_together_and_deletes_drop_blob_references(tmp_path):
    store = DataStore(tmp_path)
    blob = store.write_blob(b"body")
    store.apply([Put("s3", "k", b"meta", blob), Put("x", "y", b"z")])
    assert store.get("s3", "k") == b"meta" and list(store.scan("x")) == [("y", b"z")]
    assert [(k, b) for _, k, b, _ in store.referenced_blobs()] == [("k", blob.id)]
    store.put("s3", "k", None)
    assert store.get("s3", "k") is None and list(store.referenced_blobs()) == []
    assert store.collect_garbage() == 1 and not store.blob_path(blob.id).exists()


def test_a_failed_transaction_keeps_nothing(tmp_path):
    store = DataStore(tmp_path)
    store.put("a", "0", b"before")
    with pytest.raises(sqlite3.ProgrammingError):  # a value SQLite cannot bind fails the second statement
        store.apply([Put("a", "1", b"x"), Put("a", "2", object())])  # type: ignore[arg-type]
    assert list(store.scan("a")) == [("0", b"before")]


def test_blobs_are_whole_files_named_by_their_hash_and_written_once(tmp_path):
    store = DataStore(tmp_path)
    first = store.write_blob(b"same")
    again = store.write_blob(b"same")
    assert first == again and store.blob_path(first.id).read_bytes() == b"same"
    assert not [p for p in store.blob_directory.iterdir() if p.name.startswith(".incoming-")]


def _hold(path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event) -> None:
    lock = directory.DirectoryLock(Path(path))
    lock.acquire()
    ready.set()
    done.wait(30)


def test_a_second_user_of_the_directory_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, done = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(tmp_path), ready, done))
    holder.start()
    try:
        assert ready.wait(10)
        busy = rf"in use by another marketplace serve \(pid {holder.pid}\)"
        with pytest.raises(directory.DataDirectoryError, match=busy):
            directory.open_directory(tmp_path)
        assert directory.DirectoryLock.holder(tmp_path) == holder.pid
    finally:
        holder.kill()  # as kill -9: the kernel drops the lock; the file with the old pid stays
        holder.join()
    assert (tmp_path / directory.LOCK_FILE).read_text().strip() == str(holder.pid)
    opened = directory.open_directory(tmp_path)
    assert (tmp_path / directory.LOCK_FILE).read_text().strip() == str(os.getpid())
    opened.close()


def test_a_newer_format_is_refused_with_what_to_do(tmp_path):
    (tmp_path / directory.FORMAT_FILE).write_text(json.dumps({"format": directory.FORMAT + 1, "written_by": "9.0"}))
    with pytest.raises(directory.DataDirectoryError, match=r"format 2, written by marketplace 9\.0.*newer marketplace"):
        directory.open_directory(tmp_path)


def test_an_older_format_is_upgraded_step_by_step(tmp_path, monkeypatch):
    steps: list[int] = []
    monkeypatch.setattr(directory, "FORMAT", 3)
    monkeypatch.setattr(directory, "MIGRATIONS", {1: lambda p: steps.append(1), 2: lambda p: steps.append(2)})
    (tmp_path / directory.FORMAT_FILE).write_text(json.dumps({"format": 1, "written_by": "0.1.0"}))
    directory.check_format(tmp_path)
    assert steps == [1, 2] and directory.read_format(tmp_path)["format"] == 3  # type: ignore[index]


def test_an_older_format_without_an_upgrade_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(directory, "FORMAT", 2)
    (tmp_path / directory.FORMAT_FILE).write_text(json.dumps({"format": 1}))
    with pytest.raises(directory.DataDirectoryError, match="cannot upgrade"):
        directory.check_format(tmp_path)


def test_a_directory_that_is_not_a_data_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(directory.DataDirectoryError, match="not a marketplace data directory"):
        directory.open_directory(tmp_path)


def test_a_damaged_format_file_names_the_restore_command(tmp_path):
    (tmp_path / directory.FORMAT_FILE).write_text("{not json")
    with pytest.raises(directory.DataDirectoryError, match="marketplace restore BACKUP"):
        directory.open_directory(tmp_path)


def test_a_truncated_or_missing_body_is_reported_by_path_at_start(tmp_path):
    opened = _filled(tmp_path)
    blobs = {key: blob for _, key, blob, _ in opened.store.referenced_blobs()}
    opened.close()
    truncated = DataStore(tmp_path).blob_path(blobs["bucket\x1fa"])
    truncated.write_bytes(b"one")
    missing = DataStore(tmp_path).blob_path(blobs["bucket\x1fb"])
    missing.unlink()
    with pytest.raises(directory.DataDirectoryError) as refused:
        directory.open_directory(tmp_path)
    message = str(refused.value)
    assert f"{truncated}: 3 bytes instead of 3000" in message and f"{missing}: missing" in message
    assert "marketplace restore BACKUP --data-dir" in message and "marketplace data repair --data-dir" in message
    assert directory.DirectoryLock.holder(tmp_path) is None  # the refused start let go of the lock


def test_a_damaged_database_is_reported(tmp_path):
    _filled(tmp_path).close()
    database = tmp_path / "state.sqlite3"
    database.write_bytes(database.read_bytes()[:200])
    with pytest.raises(directory.DataDirectoryError, match=r"state\.sqlite3"):
        directory.open_directory(tmp_path)


def test_repair_drops_only_the_damaged_objects(tmp_path):
    opened = _filled(tmp_path)
    blobs = {key: blob for _, key, blob, _ in opened.store.referenced_blobs()}
    opened.store.blob_path(blobs["bucket\x1fb"]).write_bytes(b"TWO")  # same size, other content
    assert directory.drop_damaged(opened.store) == [("s3", "bucket\x1fb")]
    assert opened.store.get("s3", "bucket\x1fa") is not None and opened.store.get("s3", "bucket\x1fb") is None
    opened.close()


def test_backup_while_open_then_restore_gives_the_same_records_and_bodies(tmp_path):
    opened = _filled(tmp_path / "live")
    (tmp_path / "live" / directory.ISSUER_KEY_FILE).write_text("key")
    (tmp_path / "live" / directory.USERS_FILE).write_text('{"users": {}}')  # the local sign-in's users
    copied = backup.backup(tmp_path / "live", tmp_path / "backup")  # the source stays open and locked
    opened.store.put("dynamodb", "after", b"not in the backup")
    assert (copied.records, copied.blobs, copied.bytes) == (3, 2, 3003)
    restored = backup.restore(tmp_path / "backup", tmp_path / "new")
    assert restored.records == 3
    opened.close()
    again = directory.open_directory(tmp_path / "new")
    assert again.store.get("dynamodb", "t\x1f{}") == b"item" and again.store.get("dynamodb", "after") is None
    assert {key: again.store.blob_path(blob).read_bytes()[:3] for _, key, blob, _ in again.store.referenced_blobs()} \
        == {"bucket\x1fa": b"one", "bucket\x1fb": b"two"}
    assert (tmp_path / "new" / directory.ISSUER_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "new" / directory.USERS_FILE).read_text() == '{"users": {}}'
    assert (tmp_path / "new" / directory.USERS_FILE).stat().st_mode & 0o777 == 0o600
    for made in ("live", "backup", "new"):  # key material inside: the owner's only
        assert (tmp_path / made).stat().st_mode & 0o777 == 0o700
    again.close()


def test_restore_refuses_a_non_empty_target_and_a_damaged_backup(tmp_path):
    _filled(tmp_path / "live").close()
    backup.backup(tmp_path / "live", tmp_path / "backup")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(directory.DataDirectoryError, match="not empty"):
        backup.restore(tmp_path / "backup", tmp_path / "busy")
    store = DataStore(tmp_path / "backup")
    blob = next(iter(store.referenced_blobs()))[2]
    path = store.blob_path(blob)
    path.write_bytes(b"X" * path.stat().st_size)
    with pytest.raises(directory.DataDirectoryError, match="does not match its hash"):
        backup.restore(tmp_path / "backup", tmp_path / "fresh")


def test_the_default_directory_is_the_variable_else_the_users_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "chosen"))
    assert directory.default_directory() == tmp_path / "chosen"
    monkeypatch.delenv("MARKETPLACE_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert directory.default_directory() == tmp_path / "xdg" / "marketplace"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert directory.default_directory() == tmp_path / "home" / ".local" / "share" / "marketplace"
