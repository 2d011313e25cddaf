"""``marketplace mirror --upstream URL``: copy extensions from an upstream Open VSX registry (open-vsx.org, or
another instance of this marketplace) into this one, through the normal ingest; or, with ``--to-bundle``, into a
signed archive for an air-gapped registry (``marketplace import BUNDLE`` there)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marketplace.cli import mirror_config
from marketplace.cli.common import add_target_options, packages_bucket, target_of

if TYPE_CHECKING:
    from marketplace.cli.common import Commands
    from marketplace.mirror.engine import Sink
    from marketplace.mirror.lists import AllowList, DenyList
    from marketplace.mirror.upstream import Upstream

BUNDLE_MODULE = "marketplace.mirror.bundle"  # ``BundleSink(path, *, signing_key, allow_text, upstream)``
MAX_JOBS = 16


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "mirror", help="copy extensions from an upstream Open VSX registry into this marketplace (or a bundle)",
        description="Copy what the allow-list names (or, without one, the newest version of everything the "
                    "upstream lists) with its dependencies and extension packs, each package checked against the "
                    "upstream's SHA-256 (and signature, where the upstream publishes a key) and then through the "
                    "ingest. What is here already is skipped without a download. Exit status 0 when nothing was "
                    "rejected or failed, 1 otherwise, 2 for usage errors.")
    parser.add_argument("--upstream", required=True, help="the upstream registry's base URL (e.g. https://open-vsx.org)")
    parser.add_argument("--allow", metavar="FILE", help="the allow-list (default: everything the upstream lists)")
    parser.add_argument("--deny", metavar="FILE", help="the deny-list: ids or namespaces never mirrored")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; download nothing")
    parser.add_argument("--jobs", type=int, default=4, help=f"versions fetched at a time, 1 to {MAX_JOBS} (default 4)")
    parser.add_argument("--rate", type=float, default=4.0,
                        help="requests a second to the upstream at most (default 4; 0: no limit)")
    parser.add_argument("--ca-file", metavar="PEM", help="also trust this CA for an HTTPS upstream (a local "
                                                         "marketplace started with --tls)")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for each package's verdict "
                                                                "(default 300)")
    parser.add_argument("--print-policy", action="store_true",
                        help="print VS Code's extensions.allowed setting for the allow-list (and what its "
                             "dependencies add) and exit")
    parser.add_argument("--to-bundle", metavar="FILE", help="write a signed bundle instead of publishing here")
    parser.add_argument("--sign-key", metavar="KEY", help="the bundle's signing key (marketplace bundle keygen)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--bucket", help="the packages bucket (needed with --stage: the PackagesBucketName output)")
    add_target_options(parser)
    parser.set_defaults(run=run)
    mirror_config.add_configure(parser)  # ``marketplace mirror configure``: the scheduled mirror function's lists


def _usage(message: str) -> int:
    print(f"marketplace mirror: {message}", file=sys.stderr)
    return 2


def _lists(args: argparse.Namespace) -> tuple[AllowList | None, DenyList | None]:
    from marketplace.mirror import lists

    allow = lists.read_allow(Path(args.allow)) if args.allow else None
    deny = lists.read_deny(Path(args.deny)) if args.deny else None
    return allow, deny


def run(args: argparse.Namespace) -> int:
    from marketplace.mirror import engine, lists, upstream
    from marketplace.platform.errors import MarketplaceError

    if not 1 <= args.jobs <= MAX_JOBS:
        return _usage(f"--jobs must be from 1 to {MAX_JOBS}")
    if args.rate < 0:
        return _usage("--rate must be 0 (no limit) or more")
    if args.wait <= 0:
        return _usage("--wait must be a positive number of seconds")
    if bool(args.to_bundle) != bool(args.sign_key):
        return _usage("--to-bundle FILE and --sign-key KEY go together")
    if args.print_policy and not args.allow:
        return _usage("--print-policy needs --allow FILE")
    try:
        allow, deny = _lists(args)
    except lists.ListError as error:
        return _usage(error.message)
    try:
        client = upstream.Upstream(args.upstream, rate=args.rate, ca_file=args.ca_file)
    except (ValueError, OSError) as error:
        return _usage(f"--upstream/--ca-file: {error}")
    try:
        if args.print_policy:
            assert allow is not None
            planned = engine.plan(client, allow, deny, jobs=args.jobs)
            print(json.dumps(lists.policy_snippet(allow, deny, planned.added), indent=2))
            return 0
        if args.to_bundle:
            return _to_bundle(args, client, allow, deny)
        return _to_registry(args, client, allow, deny)
    except MarketplaceError as error:
        print(f"marketplace mirror: {error.message}", file=sys.stderr)
        return 1


def _to_bundle(args: argparse.Namespace, client: Upstream, allow: AllowList | None, deny: DenyList | None) -> int:
    try:
        module = importlib.import_module(BUNDLE_MODULE)
    except ModuleNotFoundError as error:
        if error.name not in (BUNDLE_MODULE, BUNDLE_MODULE.rpartition(".")[0]):
            raise
        return _usage("--to-bundle is not supported by this installation (marketplace.mirror.bundle is missing)")
    sink = module.BundleSink(Path(args.to_bundle), signing_key=Path(args.sign_key),
                             allow_text=allow.text if allow is not None else None, upstream=client.base_url)
    return _mirror(args, client, allow, deny, sink)


def _to_registry(args: argparse.Namespace, client: Upstream, allow: AllowList | None, deny: DenyList | None) -> int:
    from marketplace import operator
    from marketplace.mirror.engine import ImportSink
    from marketplace.publishing import audit, importer

    try:
        target = target_of(args)
    except operator.NoTarget as error:
        return _usage(str(error))
    operator.activate(target)
    if packages_bucket(args, target) is None:
        return 2
    with audit.acting(audit.Actor(audit.OPERATOR, importer.MIRROR_CLIENT)):
        return _mirror(args, client, allow, deny, ImportSink(client.base_url, timeout_seconds=args.wait))


def _mirror(args: argparse.Namespace, client: Upstream, allow: AllowList | None, deny: DenyList | None,
            sink: Sink) -> int:
    from marketplace.mirror import engine
    from marketplace.publishing import importer

    finished = False
    try:
        planned = engine.plan(client, allow, deny, jobs=args.jobs)
        if not args.json:
            print(planned.summary(), flush=True)
        show_bar = not (args.quiet or args.json) and sys.stderr.isatty() and not args.dry_run
        report = engine.run(planned, sink, jobs=args.jobs, dry_run=args.dry_run,
                            progress=importer.progress_bar(sys.stderr) if show_bar else None)
        finished = not args.dry_run
    finally:
        if not finished:
            _discard(sink)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print(report.table())
    return 0 if report.ok else 1


def _discard(sink: Any) -> None:
    """A dry run or an interrupted run leaves nothing behind: a bundle sink's temporary files go."""
    discard = getattr(sink, "discard", None)
    if callable(discard):
        discard()
