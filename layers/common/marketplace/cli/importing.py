"""``marketplace import PATH...``: publish .vsix files (files, directories, globs) through the normal ingest, as
the operator, into the namespaces their manifests name; and air-gapped bundles (``*.mkpbundle``) with
``--trusted-key``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from marketplace.cli.common import add_target_options, operator_command, packages_bucket

if TYPE_CHECKING:
    from marketplace.cli.common import Commands

BUNDLE_SUFFIX = ".mkpbundle"
BUNDLE_MODULE = "marketplace.mirror.bundle"  # ``import_bundle(path, *, trusted_key, jobs, progress)``


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "import", help="publish .vsix files (or a bundle) through the ingest, as the operator",
        description="Publish every .vsix the paths name (files, directories searched for *.vsix, globs) through "
                    "the ingest into the namespaces their manifests name. Versions already here are reported "
                    "present and not sent again. Exit status 0 when nothing was rejected, 1 otherwise, 2 for "
                    "usage errors.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help=f"a .vsix file, a directory, a glob, or an air-gapped bundle (*{BUNDLE_SUFFIX})")
    parser.add_argument("--create-namespaces", action="store_true",
                        help="create the namespaces that do not exist yet (with --owner as their owner)")
    parser.add_argument("--owner", help="the owner of the namespaces --create-namespaces creates")
    parser.add_argument("--jobs", type=int, default=4, help="packages sent at a time, 1 to 16 (default 4)")
    parser.add_argument("--wait", type=float, default=300,
                        help="seconds to wait for each package's verdict (default 300)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar, and only the rejected packages in the table")
    parser.add_argument("--trusted-key", help=f"the public key (PEM) bundles (*{BUNDLE_SUFFIX}) must be signed "
                                              "with (required for bundles)")
    parser.add_argument("--bucket", help="the packages bucket (needed with --stage: the PackagesBucketName output)")
    add_target_options(parser)
    parser.set_defaults(run=run, action=import_paths)


def _usage(message: str) -> int:
    print(f"marketplace import: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from marketplace.publishing.importer import MAX_JOBS

    if not 1 <= args.jobs <= MAX_JOBS:
        return _usage(f"--jobs must be from 1 to {MAX_JOBS}")
    if args.wait <= 0:
        return _usage("--wait must be a positive number of seconds")
    if args.create_namespaces and not args.owner:
        return _usage("--create-namespaces needs --owner USER (the owner of the namespaces it creates)")
    if args.owner and not args.create_namespaces:
        return _usage("--owner is only used with --create-namespaces")
    bundles = [p for p in args.paths if p.lower().endswith(BUNDLE_SUFFIX)]
    args.bundle_import = None
    if bundles:
        if not args.trusted_key:
            return _usage(f"importing a bundle needs --trusted-key FILE (the key its {BUNDLE_SUFFIX} is signed "
                          "with)")
        try:
            module = importlib.import_module(BUNDLE_MODULE)
        except ModuleNotFoundError as error:
            if error.name not in (BUNDLE_MODULE, BUNDLE_MODULE.rpartition(".")[0]):
                raise
            return _usage("bundles are not supported yet")
        args.bundle_import = module.import_bundle
    return operator_command(args)


def import_paths(args: argparse.Namespace) -> int:
    """The command's work, against the target ``operator_command`` activated."""
    from marketplace.platform.errors import MarketplaceError
    from marketplace.publishing import importer

    if packages_bucket(args) is None:
        return 2
    show_bar = not args.quiet and sys.stderr.isatty()
    progress = importer.progress_bar(sys.stderr) if show_bar else None
    files = [p for p in args.paths if not p.lower().endswith(BUNDLE_SUFFIX)]
    outcomes: list[importer.Outcome] = []
    for bundle in (p for p in args.paths if p.lower().endswith(BUNDLE_SUFFIX)):
        counted = importer.progress_bar(sys.stderr) if show_bar else None
        try:
            outcomes += args.bundle_import(Path(bundle), trusted_key=Path(args.trusted_key), jobs=args.jobs,
                                           progress=counted)
        except MarketplaceError as error:  # refused whole (signature, hashes): nothing of it was imported
            outcomes.append(importer.Outcome(bundle, "rejected", reason=error.message))
        finally:
            if counted is not None:
                sys.stderr.write("\n")
    if files:
        outcomes += importer.import_all(files, jobs=args.jobs, progress=progress,
                                        create_namespaces=args.create_namespaces, owner=args.owner,
                                        timeout_seconds=args.wait)
    rejected = importer.counts(outcomes)["rejected"]
    if args.json:
        print(json.dumps([o.as_json() for o in outcomes], indent=2))
    elif not outcomes:
        print("Nothing to import: the paths name no .vsix files.")
    else:
        shown = [o for o in outcomes if o.status == "rejected"] if args.quiet else outcomes
        if shown:
            print(importer.summary_table(shown))
        print(importer.counts_line(outcomes) + ".")
    return 1 if rejected else 0
