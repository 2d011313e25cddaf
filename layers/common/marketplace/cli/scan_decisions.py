"""``marketplace scan list|approve|reject``: the operator's decisions on versions the publish-time scan held
back (``publishing.lifecycle``): list the quarantined and flagged versions with their findings, approve one
(it is released at once) or reject it (it is unpublished; its number stays taken). Every decision is audited.

``register_decisions`` adds these to the ``scan`` group that ``cli.scan`` creates."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from marketplace.cli.common import add_target_options, emit, extension_arg, operator_command

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register_decisions(scan_commands: Commands) -> None:
    listing = scan_commands.add_parser("list", help="quarantined versions, and uploads the scan flagged, with "
                                                    "their findings")
    add_target_options(listing)
    listing.set_defaults(run=operator_command, action=list_command)
    for name, action, help_text in (
        ("approve", approve_command, "release a quarantined version (it is offered to editors at once)"),
        ("reject", reject_command, "unpublish a quarantined version"),
    ):
        parser = scan_commands.add_parser(name, help=help_text)
        parser.add_argument("extension", help="publisher.name")
        parser.add_argument("version", help="the quarantined version")
        parser.add_argument("--target", help="only this target platform (default: every quarantined build)")
        add_target_options(parser)
        parser.set_defaults(run=operator_command, action=action)


def quarantined() -> list[dict[str, Any]]:
    from marketplace.catalog import reader

    return [{"extension": row.extension_id, "version": row.version, "targetPlatform": row.target_platform,
             "upload": row.upload_id, "publishedBy": row.published_by,
             "publishedAt": row.published_at.isoformat(), "confirmedBy": row.confirmed_by,
             "approvedBy": row.approved_by, "findings": (row.quarantine_reason or "").splitlines()[1:]}
            for row in reader.published_versions() if row.quarantined]


def flagged() -> list[dict[str, Any]]:
    from marketplace.publishing import store

    return [{"extension": record.extension_id, "version": record.version,
             "targetPlatform": record.target_platform, "upload": record.upload_id, "status": record.status,
             "user": record.user, "findings": record.warning_list()}
            for record in store.flagged_uploads() if record.status == "published" and record.warnings]


def list_command(args: argparse.Namespace) -> int:
    held, warned = quarantined(), flagged()
    lines = ["Quarantined:" if held else "Nothing is quarantined."]
    for item in held:
        target = "" if item["targetPlatform"] == "universal" else f" ({item['targetPlatform']})"
        state = (f", confirmed by {item['confirmedBy']}" if item["confirmedBy"] else "") + \
            (f", approved by {item['approvedBy']}" if item["approvedBy"] else "")
        lines.append(f"  {item['extension']} {item['version']}{target}: by {item['publishedBy']} "
                     f"{item['publishedAt'][:19]}{state}")
        lines += [f"    {finding}" for finding in item["findings"]]
    lines.append("Flagged (published with warnings):" if warned else "No published upload has scan warnings.")
    for item in warned:
        lines.append(f"  {item['extension']} {item['version']}: upload {item['upload']} by {item['user']}")
        lines += [f"    - {finding}" for finding in item["findings"]]
    emit(args, {"quarantined": held, "flagged": warned}, "\n".join(lines))
    return 0


def approve_command(args: argparse.Namespace) -> int:
    from marketplace.publishing import lifecycle

    extension_id = extension_arg(args)
    released = lifecycle.approve_quarantined(extension_id, args.version, args.target)
    emit(args, {"extension": extension_id, "released": released},
         f"{extension_id} {', '.join(released)} approved: offered to editors now.")
    return 0


def reject_command(args: argparse.Namespace) -> int:
    from marketplace.publishing import lifecycle

    extension_id = extension_arg(args)
    withdrawn = lifecycle.reject_quarantined(extension_id, args.version, args.target)
    emit(args, {"extension": extension_id, "unpublished": withdrawn},
         f"{extension_id} {', '.join(withdrawn)} rejected: unpublished (the version number stays taken).")
    return 0
