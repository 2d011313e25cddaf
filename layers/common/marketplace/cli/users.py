"""``marketplace user add|password|remove|list``: the named local users that the local marketplace's own sign-in
page signs in (its publisher area), each with a password kept as a scrypt hash in ``local-users.json`` beside
the issuer's key. The running marketplace reads the file at every sign-in: changes apply at once."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    user = commands.add_parser(
        "user", help="the local marketplace's own users, who sign in on its website with a password")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create a local user (asks for the password twice)")
    add.add_argument("name", help="user name or e-mail address (an e-mail address is their publishing identity)")
    password = user_commands.add_parser("password", help="set a local user's new password")
    password.add_argument("name")
    for parser in (add, password):
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of standard input instead of asking")
    remove = user_commands.add_parser("remove", help="remove a local user (they can no longer sign in)")
    remove.add_argument("name")
    listing = user_commands.add_parser("list", help="list the local users (never their passwords)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for parser in (add, password, remove, listing):
        parser.add_argument("--data-dir", metavar="DIR",
                            help="the users of the data directory DIR (default: the running local marketplace's; "
                                 "with none running, the default data directory of marketplace serve)")
    add.set_defaults(run=run, action=_add)
    password.set_defaults(run=run, action=_password)
    remove.set_defaults(run=run, action=_remove)
    listing.set_defaults(run=run, action=_list)


class _Usage(Exception):
    """A command that cannot run as given (exit status 2)."""


def run(args: argparse.Namespace) -> int:
    from marketplace.identity import local_users

    try:
        path = users_file(args.data_dir)
        result: int = args.action(args, path)
    except (local_users.UserExists, local_users.UnknownUser, local_users.UsersFileError) as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    except (_Usage, ValueError) as error:  # ValueError: an unusable user name or password
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"marketplace: cannot change the local users: {error}", file=sys.stderr)
        return 1
    return result


def users_file(data_dir: str | None) -> Path:
    """Where the local users are: in ``data_dir`` when given; else beside the running local marketplace's
    issuer key (its data directory, or next to the state file with ``--ephemeral``), as ``dev-token`` finds the
    key; with none running, in the default data directory that ``marketplace serve`` would use."""
    from marketplace import operator
    from marketplace.identity import local_users
    from marketplace.local.durable import directory

    if data_dir:
        return Path(data_dir).expanduser().resolve() / local_users.USERS_FILE
    try:
        target = operator.resolve(None, None)
    except operator.NoTarget:
        return directory.default_directory().expanduser().resolve() / local_users.USERS_FILE
    if target.data_dir:
        return Path(target.data_dir) / local_users.USERS_FILE
    return local_users.beside(Path(target.issuer_key) if target.issuer_key else operator.issuer_key_path())


def _read_password(args: argparse.Namespace, name: str) -> str:
    """The new password: the first line of standard input (--password-stdin), or typed twice at the terminal."""
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise _Usage("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    try:
        first = getpass.getpass(f"Password for {name}: ")
        again = getpass.getpass("The same password again: ")
    except EOFError:
        raise _Usage("no password was typed: pass it on standard input with --password-stdin") from None
    if again != first:
        raise _Usage("the two passwords differ; nothing was changed")
    return first


def _add(args: argparse.Namespace, path: Path) -> int:
    from marketplace.identity import local_users

    name = local_users.canonical(args.name)
    password = _read_password(args, name)
    local_users.add(path, name, password)
    print(f"marketplace: added the local user {name} ({path}); they sign in on the website's /manage",
          file=sys.stderr)
    return 0


def _password(args: argparse.Namespace, path: Path) -> int:
    from marketplace.identity import local_users

    name = local_users.canonical(args.name)
    if name not in local_users.read(path):  # before asking for a password that would be thrown away
        raise local_users.UnknownUser(f"there is no local user {name} (in {path})")
    local_users.set_password(path, name, _read_password(args, name))
    print(f"marketplace: changed the password of the local user {name}", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace, path: Path) -> int:
    from marketplace.identity import local_users

    name = local_users.remove(path, args.name)
    print(f"marketplace: removed the local user {name}: they can no longer sign in (a website session already open "
          "lasts until it expires; their memberships and tokens stay until removed)", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, path: Path) -> int:
    from marketplace.identity import local_users

    users = local_users.read(path)
    if args.json:
        print(json.dumps([{"name": name, "created": users[name].get("created")} for name in sorted(users)],
                         indent=2))
    elif users:
        print("\n".join(sorted(users)))
    else:
        print(f"marketplace: there are no local users yet ({path}); create one with: marketplace user add NAME",
              file=sys.stderr)
    return 0
