"""``marketplace publish FILE.vsix``: upload a package straight to storage and wait for the ingest's verdict."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from marketplace.cli.common import registry_and_token, tls_context

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    publish = commands.add_parser("publish", help="publish a .vsix (straight to storage, then wait for the verdict)")
    publish.add_argument("file", help="the .vsix to publish")
    publish.add_argument("--registry", help="the marketplace's base URL (default: the running local marketplace)")
    publish.add_argument("--token", help="a personal access token (default: $MARKETPLACE_TOKEN)")
    publish.add_argument("--wait", type=float, default=300, help="seconds to wait for the verdict (default 300)")
    publish.add_argument("--quiet", action="store_true", help="no progress bar")
    publish.add_argument("--ca-file", help="also trust this CA (PEM) for an HTTPS registry (default: "
                                           "$MARKETPLACE_CA_FILE, or the running local marketplace's)")
    publish.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.publishing import client

    target = registry_and_token(args)
    if target is None:
        return 2
    registry, token = target
    try:
        verdict = client.publish(Path(args.file), registry, token, wait_seconds=args.wait,
                                 context=tls_context(args, registry),
                                 progress=None if args.quiet else client.progress_bar())
    except client.PublishError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    if verdict.warning:
        print(f"marketplace: warning: {verdict.warning}", file=sys.stderr)
    if verdict.status == "published":
        extension = verdict.upload.get("extension", {})
        target = extension.get("targetPlatform")
        suffix = f" ({target})" if target and target != "universal" else ""
        print(f"Published {extension.get('id')} v{extension.get('version')}{suffix}.")
        return 0
    if verdict.status == "quarantined":
        extension = verdict.upload.get("extension", {})
        print(f"marketplace: {extension.get('id')} v{extension.get('version')} is stored but held back: "
              f"{verdict.reason}\nAn owner confirms it with POST /api/publish/extensions/.../versions/"
              f"{extension.get('version')}/confirm or on the extension's statistics page.", file=sys.stderr)
        return 3
    print(f"marketplace: rejected: {verdict.reason}", file=sys.stderr)
    return 1
