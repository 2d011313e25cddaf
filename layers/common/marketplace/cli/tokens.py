"""``marketplace token create|list|revoke``: personal access tokens (operator)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, emit, operator_command

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    token = commands.add_parser("token", help="personal access tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_create = token_commands.add_parser("create", help="create a token (printed once)")
    token_create.add_argument("--user", required=True)
    token_create.add_argument("--namespace", action="append", required=True, help="repeat for several namespaces")
    token_create.add_argument("--days", type=int, help="lifetime in days (default 90, at most 366)")
    token_create.add_argument("--description")
    add_target_options(token_create)
    token_create.set_defaults(run=operator_command, action=create_token)
    token_list = token_commands.add_parser("list", help="list a user's tokens, or every token (never their values)")
    whose = token_list.add_mutually_exclusive_group(required=True)
    whose.add_argument("--user")
    whose.add_argument("--all", action="store_true", help="every user's tokens")
    add_target_options(token_list)
    token_list.set_defaults(run=operator_command, action=list_tokens)
    token_revoke = token_commands.add_parser("revoke", help="revoke a token by its id")
    token_revoke.add_argument("token_id")
    add_target_options(token_revoke)
    token_revoke.set_defaults(run=operator_command, action=revoke_token)


def create_token(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    token = service.create_token(args.user, args.namespace, days=args.days, description=args.description)
    emit(args, {"user": args.user, "namespaces": args.namespace, "token": token},
         f"Personal access token for {args.user} on {', '.join(args.namespace)} (shown once):\n{token}")
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    views = service.list_all_tokens() if args.all else service.list_tokens(args.user)
    rows = [{"id": v.token_id, "user": v.user, "state": v.state, "namespaces": list(v.namespaces),
             "created": v.created_at, "expires": v.expires, "last_used": v.last_used_at,
             "description": v.description} for v in views]
    lines = [f"{'id':<16}  {'user':<20}  {'state':<8}  {'expires':<10}  {'last used':<16}  namespaces"]
    lines += [f"{v.token_id:<16}  {v.user:<20}  {v.state:<8}  {v.expires:%Y-%m-%d}  "
              f"{(f'{v.last_used_at:%Y-%m-%d %H:%M}' if v.last_used_at else 'never'):<16}  {', '.join(v.namespaces)}"
              for v in views]
    empty = "There are no tokens." if args.all else f"{args.user} has no tokens."
    emit(args, rows, "\n".join(lines) if views else empty)
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    view = service.revoke_token(args.token_id)
    emit(args, {"id": view.token_id, "state": view.state}, f"Token {view.token_id} is revoked.")
    return 0
