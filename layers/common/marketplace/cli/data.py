"""``marketplace backup|restore`` and ``marketplace data check|repair``: the local data directory (``serve
--data-dir``), while it is served or not."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketplace.cli.common import Commands

_DATA_DIR_HELP = ("the data directory (default: the running local marketplace's, else $MARKETPLACE_DATA_DIR, "
                  "$XDG_DATA_HOME/marketplace or ~/.local/share/marketplace)")


def register(commands: Commands) -> None:
    backup = commands.add_parser("backup", help="a consistent copy of the local data directory, taken while it is "
                                                "served; DEST must be new or empty")
    backup.add_argument("destination", metavar="DEST")
    backup.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    backup.set_defaults(run=run_backup)

    restore = commands.add_parser("restore", help="restore a backup into a new data directory (every body's "
                                                  "hash is checked); then: marketplace serve --data-dir DIR")
    restore.add_argument("source", metavar="SRC")
    restore.add_argument("--data-dir", metavar="DIR", required=True, help="the new (or empty) data directory")
    restore.set_defaults(run=run_restore)

    data = commands.add_parser("data", help="check or repair a data directory")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    check = data_commands.add_parser("check", help="check the database and every stored body (with --full, "
                                                   "their SHA-256 too)")
    check.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    check.add_argument("--full", action="store_true", help="hash every body (slow for large registries)")
    check.set_defaults(run=run_check)
    repair = data_commands.add_parser("repair", help="drop the objects whose bodies are missing or damaged, "
                                                     "listing each, so the rest can be served (stop serve first)")
    repair.add_argument("--data-dir", metavar="DIR", required=True)
    repair.set_defaults(run=run_repair)


def _source(args: argparse.Namespace) -> Path:
    from marketplace import operator
    from marketplace.local.durable import directory

    if args.data_dir:
        return Path(args.data_dir).expanduser()
    try:
        running = operator.resolve(None, None)
    except operator.NoTarget:
        running = None
    if running is not None and running.data_dir:
        return Path(running.data_dir)
    return directory.default_directory()


def _progress(done: int, total: int) -> None:
    if done == total or done % 500 == 0:
        print(f"\r  {done}/{total} bodies", end="" if done < total else "\n", file=sys.stderr, flush=True)


def run_backup(args: argparse.Namespace) -> int:
    from marketplace.local.durable import backup, directory

    source = _source(args)
    try:
        copied = backup.backup(source, Path(args.destination), progress=_progress)
    except directory.DataDirectoryError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    print(f"Backed up {source} to {Path(args.destination).resolve()}: {copied.records} records, {copied.blobs} "
          f"bodies ({copied.bytes} bytes). Restore with: marketplace restore {args.destination} --data-dir NEW_DIR")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from marketplace.local.durable import backup, directory

    try:
        copied = backup.restore(Path(args.source), Path(args.data_dir), progress=_progress)
    except directory.DataDirectoryError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    print(f"Restored {copied.records} records and {copied.blobs} bodies into {Path(args.data_dir).resolve()}. "
          f"Serve it with: marketplace serve --data-dir {args.data_dir}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from marketplace.local.durable import directory
    from marketplace.local.durable.store import DataStore

    path = _source(args).resolve()
    if directory.read_format(path) is None:
        print(f"marketplace: {path} is not a marketplace data directory", file=sys.stderr)
        return 1
    store = DataStore(path)
    try:
        problems = directory.check_integrity(store, full=args.full)
    finally:
        store.close()
    if problems:
        print(f"marketplace: {directory.damage_report(path, problems)}", file=sys.stderr)
        return 1
    print(f"{path}: no damage found ({'every body hashed' if args.full else 'database and body sizes checked'}).")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    from marketplace.local.durable import directory
    from marketplace.local.durable.store import DataStore

    path = Path(args.data_dir).expanduser().resolve()
    lock = directory.DirectoryLock(path)
    try:
        lock.acquire()
    except directory.DataDirectoryError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    try:
        if directory.read_format(path) is None:
            print(f"marketplace: {path} is not a marketplace data directory", file=sys.stderr)
            return 1
        store = DataStore(path)
        try:
            database = store.quick_check()
            if database != "ok":
                print(f"marketplace: the database itself is damaged ({database}); restore a backup: marketplace "
                      f"restore BACKUP --data-dir NEW_DIR", file=sys.stderr)
                return 1
            dropped = directory.drop_damaged(store)
        finally:
            store.close()
    finally:
        lock.release()
    for kind, key in dropped:
        print(f"dropped {kind} {key.replace(chr(31), '/')}: its body was missing or damaged")
    print(f"{path}: {len(dropped)} damaged objects dropped; the rest can be served.")
    return 0
