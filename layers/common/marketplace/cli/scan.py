"""``marketplace scan block-hash|block-extension|blocklist|unblock``: the operator's blocklist of packages, files
and extension ids that the publish-time scan refuses (``publishing.scanning.blocklist``). A block also marks the
published extensions it matches malicious; ``unblock`` only lets new uploads through again."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, emit, operator_command

if TYPE_CHECKING:
    from marketplace.cli.common import Commands
    from marketplace.publishing.scanning.blocklist import Blocked


def register(commands: Commands) -> None:
    scan = commands.add_parser("scan", help="operator: the publish-time scan's blocklist")
    scan_commands = scan.add_subparsers(dest="scan_command", required=True)
    block_hash = scan_commands.add_parser(
        "block-hash", help="refuse packages with this SHA-256 (or, with --file, containing a file with it), and "
                           "block the published extensions that match")
    block_hash.add_argument("sha256", help="64 hexadecimal digits")
    block_hash.add_argument("--file", action="store_true",
                            help="the SHA-256 of one file inside a package (published packages are read again)")
    block_hash.add_argument("--reason", required=True, help="why: publishers are shown it")
    add_target_options(block_hash)
    block_hash.set_defaults(run=operator_command, action=block_hash_command)
    block_extension = scan_commands.add_parser(
        "block-extension", help="refuse uploads of this extension id, and block it if it is published")
    block_extension.add_argument("extension", help="publisher.name")
    block_extension.add_argument("--reason", required=True, help="why: publishers are shown it")
    add_target_options(block_extension)
    block_extension.set_defaults(run=operator_command, action=block_extension_command)
    listing = scan_commands.add_parser("blocklist", help="every block")
    add_target_options(listing)
    listing.set_defaults(run=operator_command, action=list_command)
    unblock = scan_commands.add_parser(
        "unblock", help="remove a block (extensions it marked stay blocked: marketplace extension block ID --off)")
    unblock.add_argument("kind", choices=("package", "file", "extension"))
    unblock.add_argument("value", help="the SHA-256 or the extension id")
    add_target_options(unblock)
    unblock.set_defaults(run=operator_command, action=unblock_command)
    from marketplace.cli.scan_decisions import register_decisions  # list, approve, reject: quarantined versions

    register_decisions(scan_commands)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def block_hash_command(args: argparse.Namespace) -> int:
    from marketplace.publishing.scanning import blocklist
    from marketplace.publishing.tokens import utcnow

    kind = blocklist.FILE if args.file else blocklist.PACKAGE
    if args.file:
        _progress("A file's hash is matched against published packages by reading each one again; this may take "
                  "a while.")
    return _report(args, blocklist.block(kind, args.sha256, args.reason, utcnow(), _progress))


def block_extension_command(args: argparse.Namespace) -> int:
    from marketplace.publishing.scanning import blocklist
    from marketplace.publishing.tokens import utcnow

    return _report(args, blocklist.block(blocklist.EXTENSION, args.extension, args.reason, utcnow()))


def _report(args: argparse.Namespace, blocked: Blocked) -> int:
    item = blocked.item
    marked = [{"extension": m.extension_id, "version": m.version or None, "targetPlatform": m.target_platform or None,
               "file": m.file} for m in blocked.marked]
    lines = [f"Blocked {item.kind} {item.value}: {item.reason}"]
    if item.kind == "file":
        lines.append(f"Checked {blocked.checked} published package(s).")
    lines += [f"  {m.extension_id}" + (f" {m.version}" if m.version else "")
              + (f" ({m.target_platform})" if m.target_platform else "") + (f": {m.file}" if m.file else "")
              for m in blocked.marked]
    extensions = sorted({m.extension_id for m in blocked.marked})
    lines.append(f"Marked malicious: {', '.join(extensions)}." if extensions
                 else "No published extension matched.")
    emit(args, {"kind": item.kind, "value": item.value, "reason": item.reason, "matched": marked,
                "malicious": extensions, "checked": blocked.checked}, "\n".join(lines))
    return 0


def list_command(args: argparse.Namespace) -> int:
    from marketplace.publishing.scanning import blocklist

    found = blocklist.entries()
    rows = [{"kind": b.kind, "value": b.value, "reason": b.reason, "created_by": b.created_by,
             "created_at": b.created_at} for b in found]
    lines = [f"{'kind':<9}  {'created':<10}  {'value':<64}  reason"]
    lines += [f"{b.kind:<9}  {b.created_at:%Y-%m-%d}  {b.value:<64}  {b.reason}" for b in found]
    emit(args, rows, "\n".join(lines) if found else "The blocklist is empty.")
    return 0


def unblock_command(args: argparse.Namespace) -> int:
    from marketplace.publishing.scanning import blocklist
    from marketplace.publishing.tokens import utcnow

    item = blocklist.unblock(args.kind, args.value, utcnow())
    emit(args, {"kind": item.kind, "value": item.value, "removed": True, "extensions_unblocked": False},
         f"Removed the {item.kind} block of {item.value}. Extensions it marked malicious stay blocked; lift that "
         f"with: marketplace extension block ID --off")
    return 0
