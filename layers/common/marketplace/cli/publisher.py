"""``marketplace publisher create|list|member|verify|audit|claim-names|mirrored``: publishers (namespaces), their
members, the operator's verification, the look-alike claims of namespaces older than them, and whether members may
publish into a namespace the mirror fills."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, emit, operator_command

if TYPE_CHECKING:
    from marketplace.cli.common import Commands
    from marketplace.publishing.store import NamespaceItem


def register(commands: Commands) -> None:
    publisher = commands.add_parser("publisher", help="publishers (namespaces) and their members")
    publisher_commands = publisher.add_subparsers(dest="publisher_command", required=True)
    create = publisher_commands.add_parser("create", help="create a publisher and print a token for its owner")
    create.add_argument("name", help="the namespace: the `publisher` field of the extensions' package.json")
    create.add_argument("--owner", required=True, help="the owner's user name (e-mail or login)")
    create.add_argument("--allow-reserved", action="store_true", help="operator override for reserved names")
    create.add_argument("--token-days", type=int, help="lifetime of the owner's first token (default 90)")
    add_target_options(create)
    create.set_defaults(run=operator_command, action=create_publisher)
    member = publisher_commands.add_parser("member", help="add a member to a publisher")
    member.add_argument("namespace")
    member.add_argument("user")
    member.add_argument("--role", choices=("owner", "contributor"), default="contributor")
    member.add_argument("--remove", action="store_true", help="remove the member instead (never the last owner)")
    add_target_options(member)
    member.set_defaults(run=operator_command, action=add_member)
    log = publisher_commands.add_parser("audit", help="a publisher's audit log, newest first")
    log.add_argument("namespace")
    log.add_argument("--limit", type=int, default=100, help="entries to show (default 100, at most 1000)")
    add_target_options(log)
    log.set_defaults(run=operator_command, action=audit_log)
    listing = publisher_commands.add_parser("list", help="every publisher with its members")
    add_target_options(listing)
    listing.set_defaults(run=operator_command, action=list_publishers)
    verify = publisher_commands.add_parser("verify", help="vouch for a publisher: its extensions show as verified")
    verify.add_argument("namespace")
    verify.add_argument("--revoke", action="store_true", help="take the verification back")
    add_target_options(verify)
    verify.set_defaults(run=operator_command, action=verify_publisher)
    mirrored = publisher_commands.add_parser(
        "mirrored", help="allow (or refuse again) local publishing into a namespace mirrored from an upstream")
    mirrored.add_argument("namespace")
    choice = mirrored.add_mutually_exclusive_group(required=True)
    choice.add_argument("--allow-local-publishing", dest="allow", action="store_true",
                        help="its members may publish into it besides the mirror")
    choice.add_argument("--refuse-local-publishing", dest="allow", action="store_false",
                        help="only the mirror publishes into it (the default for a mirrored namespace)")
    add_target_options(mirrored)
    mirrored.set_defaults(run=operator_command, action=set_local_publishing)
    claims = publisher_commands.add_parser(
        "claim-names", help="once, after upgrading: protect the namespaces made before look-alike names were refused")
    add_target_options(claims)
    claims.set_defaults(run=operator_command, action=claim_names)


def create_publisher(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    namespace, token = service.create_publisher(args.name, args.owner, allow_reserved=args.allow_reserved,
                                                token_days=args.token_days)
    emit(args, {"namespace": namespace.name, "owner": args.owner, "token": token},
         f"Created publisher {namespace.name} (owner {args.owner}).\n"
         f"Personal access token (shown once; store it now):\n{token}")
    return 0


def add_member(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    if args.remove:
        service.remove_member(args.namespace, args.user)
        emit(args, {"namespace": args.namespace, "user": args.user, "removed": True},
             f"{args.user} is no longer a member of {args.namespace}.")
        return 0
    service.add_member(args.namespace, args.user, args.role)
    emit(args, {"namespace": args.namespace, "user": args.user, "role": args.role},
         f"{args.user} is now {args.role} of {args.namespace}.")
    return 0


def list_publishers(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    found = service.list_namespaces()
    rows = [{"namespace": n.name, "created": n.created_at, "created_by": n.created_by, "verified": n.verified,
             "mirrored_from": n.mirrored_from, "local_publishing": bool(n.local_publishing),
             "members": [{"user": m.user, "role": m.role} for m in members]} for n, members in found]
    lines = [f"{'namespace':<24}  {'created':<10}  {'verified':<8}  members"]
    lines += [f"{n.name:<24}  {n.created_at:%Y-%m-%d}  {'yes' if n.verified else 'no':<8}  "
              + (", ".join(f"{m.user} ({m.role})" for m in members) or "-") + _mirrored(n)
              for n, members in found]
    emit(args, rows, "\n".join(lines) if found else "There are no publishers.")
    return 0


def _mirrored(namespace: NamespaceItem) -> str:
    if not namespace.mirrored_from:
        return ""
    allowed = "; local publishing allowed" if namespace.local_publishing else ""
    return f"  (mirrored from {namespace.mirrored_from}{allowed})"


def set_local_publishing(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    item = service.set_local_publishing(args.namespace, args.allow)
    state = "may" if item.local_publishing else "may no longer"
    emit(args, {"namespace": item.name, "mirrored_from": item.mirrored_from,
                "local_publishing": bool(item.local_publishing)},
         f"Members of {item.name} (mirrored from {item.mirrored_from}) {state} publish into it.")
    return 0


def verify_publisher(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    verified = not args.revoke
    changed = service.verify_namespace(args.namespace, verified)
    state = "verified" if verified else "no longer verified"
    emit(args, {"namespace": args.namespace.lower(), "verified": verified, "extensions": changed},
         f"Publisher {args.namespace.lower()} is {state} ({len(changed)} extension(s) updated).")
    return 0


def claim_names(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    claimed, pairs = service.claim_existing_names()
    lines = [f"Claimed the look-alike names of {len(claimed)} namespace(s)."]
    lines += [f"{newer} reads like the older {older}: only the operator can resolve it" for newer, older in pairs]
    emit(args, {"claimed": claimed, "lookalikes": [{"namespace": n, "reads_like": o} for n, o in pairs]},
         "\n".join(lines))
    return 0


def audit_log(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    entries = [e.as_json() for e in service.audit_log(args.namespace, args.limit)]
    lines = [f"{e['at'][:19]}  {e['actor']:<24}  {e['client']:<20}  {e['action']:<22}  {e['target']}"
             for e in entries]
    emit(args, entries, "\n".join(lines) if entries else f"{args.namespace} has no audit entries.")
    return 0
