"""``marketplace mirror configure --allow FILE [--deny FILE]``: give the scheduled mirror function its lists.

The function (deployed with the CDK context ``mirror``) reads the allow-list and deny-list from the packages
bucket (``private/mirror/``), not from its environment (Lambda's 4 KB limit). This command checks them with the
mirror's own parser and uploads them; ``--remove`` takes them away, and the function then mirrors nothing. Without
``--deny`` the deny-list there is removed: the lists are what the last ``configure`` said.
"""

from __future__ import annotations

import argparse
import sys

from marketplace.cli.common import add_target_options, emit, operator_command, packages_bucket


def add_configure(mirror: argparse.ArgumentParser) -> None:
    """Add ``configure`` under ``marketplace mirror`` (``cli/mirror.py`` calls this): the mirror's own options
    need no subcommand, and what the mirror itself requires (``--upstream``) is checked when it runs without
    one, as argparse would, rather than demanded of ``configure`` too."""
    required = [action for action in mirror._actions if action.required and action.option_strings]
    for action in required:
        action.required = False
    mirror_run = mirror.get_default("run")

    def run_mirror(args: argparse.Namespace) -> int:
        missing = [action.option_strings[-1] for action in required if getattr(args, action.dest, None) is None]
        if missing:
            print(f"marketplace mirror: the following arguments are required: {', '.join(missing)}",
                  file=sys.stderr)
            return 2
        result: int = mirror_run(args)
        return result

    mirror.set_defaults(run=run_mirror)
    subcommands = mirror.add_subparsers(dest="mirror_command", required=False, metavar="configure")
    configure = subcommands.add_parser(
        "configure", help="check and upload the allow-list (and deny-list) the scheduled mirror function reads",
        description=__doc__)
    lists = configure.add_mutually_exclusive_group(required=True)
    lists.add_argument("--allow", metavar="FILE", help="the allow-list: what to mirror")
    lists.add_argument("--remove", action="store_true",
                       help="remove both lists: the scheduled mirror then mirrors nothing")
    configure.add_argument("--deny", metavar="FILE", help="the deny-list (wins over the allow-list); without it, "
                                                           "no deny-list is kept")
    configure.add_argument("--bucket", help="the packages bucket (needed with --stage: the PackagesBucketName "
                                            "output)")
    add_target_options(configure)
    configure.set_defaults(run=operator_command, action=configure_lists)


def configure_lists(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.mirror import lists
    from marketplace.platform import aws
    from marketplace.platform import resources as r
    from marketplace.platform.functions import MIRROR_ALLOW_KEY, MIRROR_DENY_KEY

    if args.remove and args.deny:
        print("marketplace: --remove takes both lists away; it takes no --deny", file=sys.stderr)
        return 2
    allow = deny = None
    if not args.remove:  # checked before anything is changed: a list the function could not read is refused here
        allow = lists.read_allow(Path(args.allow))
        deny = lists.read_deny(Path(args.deny)) if args.deny else None
    bucket = packages_bucket(args)
    if bucket is None:
        return 2
    s3 = aws.client("s3")
    text_plain = "text/plain; charset=utf-8"
    if allow is None:
        s3.delete_object(Bucket=bucket, Key=MIRROR_ALLOW_KEY)
    else:
        s3.put_object(Bucket=bucket, Key=MIRROR_ALLOW_KEY, Body=Path(args.allow).read_bytes(), ContentType=text_plain)
    if deny is None:
        s3.delete_object(Bucket=bucket, Key=MIRROR_DENY_KEY)
    else:
        s3.put_object(Bucket=bucket, Key=MIRROR_DENY_KEY, Body=Path(args.deny).read_bytes(), ContentType=text_plain)
    where = f"s3://{bucket}/{r.PACKAGES_BUCKET.mirror_prefix}"
    if allow is None:
        emit(args, {"bucket": bucket, "allow": None, "deny": None},
             f"Removed the mirror's lists from {where}: the scheduled mirror mirrors nothing until they are "
             "configured again.")
        return 0
    denied = sorted(deny.ids | deny.namespaces) if deny is not None else []
    emit(args, {"bucket": bucket, "allow": [entry.describe() for entry in allow.entries], "deny": denied},
         f"Configured the scheduled mirror ({where}): {len(allow.entries)} allow-list entr"
         f"{'y' if len(allow.entries) == 1 else 'ies'}, "
         + (f"{len(denied)} deny-list entr{'y' if len(denied) == 1 else 'ies'}" if deny is not None
            else "no deny-list")
         + ". The mirror function reads them at its next run.")
    return 0
