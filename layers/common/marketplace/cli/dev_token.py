"""``marketplace dev-token USER``: a bearer token from the running local marketplace's own issuer (Settings
Sync)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    dev_token = commands.add_parser(
        "dev-token", help="print a bearer token for USER from the running local marketplace's own issuer "
                          "(Settings Sync; clients send it with X-Account-Type: local)")
    dev_token.add_argument("user", help="the user (the token's subject)")
    dev_token.add_argument("--ttl", type=int, default=12 * 3600, metavar="SECONDS",
                           help="lifetime in seconds (default 43200: 12 hours)")
    dev_token.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """A token from the running local marketplace's issuer (its key lives next to the state file)."""
    from marketplace import operator
    from marketplace.identity import local_issuer

    try:
        target = operator.resolve(None, None)
        base_url = target.base_url
    except operator.NoTarget as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    if not base_url:
        print("marketplace: the running local marketplace did not record its address: restart it", file=sys.stderr)
        return 2
    path = Path(target.issuer_key) if target.issuer_key else operator.issuer_key_path()
    try:
        issuer = local_issuer.LocalIssuer.load(path)
    except FileNotFoundError:
        print(f"marketplace: the local marketplace has no issuer key at {path}: restart it (./dev serve)",
              file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"marketplace: cannot read the local issuer key: {error}", file=sys.stderr)
        return 1
    try:
        token = issuer.mint(args.user, base_url, ttl_seconds=args.ttl)
    except ValueError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0
