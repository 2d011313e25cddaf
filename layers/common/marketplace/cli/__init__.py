"""The ``marketplace`` command.

- ``marketplace serve``: the whole marketplace locally (embedded moto, no AWS account, no Docker).
- ``marketplace publisher create|member``, ``marketplace token create|list|revoke``: operator commands; they
  act on the running local marketplace, or on a deployment with ``--stage`` and the caller's AWS credentials.
- ``marketplace publish FILE.vsix``: upload a package and wait for the ingest's verdict.
- ``marketplace import PATH...``: publish .vsix files (files, directories, globs) or an air-gapped bundle through
  the ingest as the operator (``--create-namespaces --owner USER`` for namespaces that do not exist yet).
- ``marketplace mirror --upstream URL [--allow FILE]``: copy from an Open VSX registry (``--to-bundle``: a bundle).
- ``marketplace publisher mirrored NS --allow-local-publishing``: let members publish into a mirrored namespace.
- ``marketplace extension unpublish|deprecate|undeprecate ID``: an owner's lifecycle actions.
- ``marketplace extension feature|block ID [--off]``, ``marketplace publisher verify NS``: operator actions.
- ``marketplace review list|hide|unhide ID ...``: operators moderate reviews (a hidden review leaves the average).
- ``marketplace product-json URL``: the editor configuration for a deployment.
- ``marketplace scan block-hash|block-extension|blocklist|unblock``: the publish-time scan's blocklist (operator).
- ``marketplace search rebuild``: write the whole search snapshot from the extensions table (operator).
- ``marketplace backup DEST``, ``marketplace restore SRC --data-dir DIR``, ``marketplace data check|repair``: the
  local data directory (``marketplace serve --data-dir``).
- ``marketplace dev-token USER``: a bearer token from the running local marketplace's own issuer (Settings Sync).
- ``marketplace mirror configure --allow FILE [--deny FILE]``: the scheduled mirror function's lists.
- ``marketplace user add|password|remove|list``: the local marketplace's named users, who sign in on its website.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from marketplace.cli import (
    bundle,
    data,
    dev_token,
    extension,
    importing,
    mirror,
    product_json,
    publish,
    publisher,
    review,
    scan,
    search,
    serve,
    stats,
    tokens,
    users,
)

# One module per command group, each adding its commands with ``register``; this order is --help's order.
GROUPS = (serve, data, product_json, publisher, publish, importing, mirror, bundle, extension, stats, review, scan,
          search, dev_token, users, tokens)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="marketplace", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("-v", "--verbose", action="store_true", help="log every request and poll")
    commands = root.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Powertools' JSON logs from every invocation would drown the console; -v brings them back.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
