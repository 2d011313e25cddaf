"""``marketplace search rebuild``: write the whole search snapshot from the extensions table (operator)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, emit, operator_command, packages_bucket

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    search = commands.add_parser("search", help="the gallery's search snapshot")
    search_commands = search.add_subparsers(dest="search_command", required=True)
    rebuild = search_commands.add_parser("rebuild", help="rewrite the whole search snapshot from the extensions "
                                                         "table (first deployment, recovery, fresh statistics)")
    rebuild.add_argument("--bucket", help="the packages bucket (needed with --stage: the PackagesBucketName output)")
    add_target_options(rebuild)
    rebuild.set_defaults(run=operator_command, action=rebuild_snapshot)


def rebuild_snapshot(args: argparse.Namespace) -> int:
    """The whole search snapshot from a scan of the extensions table: the first one, or after trouble."""
    from marketplace.platform import resources as r
    from marketplace.search import indexer

    bucket = packages_bucket(args)
    if bucket is None:
        return 2
    manifest = indexer.rebuild()
    emit(args, {"extensions": manifest.total, "segments": len(manifest.segments), "bucket": bucket},
         f"Rebuilt the search snapshot: {manifest.total} extensions in {len(manifest.segments)} segments "
         f"(s3://{bucket}/{r.PACKAGES_BUCKET.private_prefix}search/).")
    return 0
