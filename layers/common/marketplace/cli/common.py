"""What several command groups share: running an operator command against its target, printing text or
JSON, the target options, extension ids, and the registry, token and TLS trust of the API commands."""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    from marketplace.operator import Target

    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def operator_command(args: argparse.Namespace) -> int:
    """Run an operator command against its target, turning domain errors into one clear line."""
    from marketplace import operator
    from marketplace.platform.errors import MarketplaceError

    try:
        target = target_of(args)
    except operator.NoTarget as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    operator.activate(target)
    from marketplace.publishing import audit

    try:
        with audit.acting(audit.Actor(audit.OPERATOR, "marketplace CLI")):  # what it changes is the operator's
            result: int = args.action(args)
    except MarketplaceError as error:
        print(f"marketplace: {error.message}", file=sys.stderr)
        return 1
    return result


def target_of(args: argparse.Namespace) -> Target:
    """Where an operator command acts: ``--aws-endpoint``, ``--stage``, ``--target-registry``, or the running local
    marketplace (``operator.NoTarget`` when there is none)."""
    from marketplace import operator

    return operator.resolve(args.stage, args.aws_endpoint, getattr(args, "target_registry", None))


def packages_bucket(args: argparse.Namespace, target: Target | None = None) -> str | None:
    """The packages bucket an operator command writes to: ``--bucket``, else the local runtime's (named as it
    provisions it); ``None`` after saying so for a deployed stage, whose bucket CDK names (pass ``--bucket``). It is
    also put where the data modules look for it."""
    from marketplace.platform import resources as r

    bucket = str(getattr(args, "bucket", None) or "")
    if not bucket:
        target = target or target_of(args)
        if not target.aws_endpoint:
            print("marketplace: name the packages bucket with --bucket (the stack's PackagesBucketName output)",
                  file=sys.stderr)
            return None
        bucket = f"{r.PRODUCT}-{target.stage}-{r.PACKAGES_BUCKET.id}"
    os.environ[r.PACKAGES_BUCKET.env_var] = bucket
    return bucket


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", help="a deployed stage (uses your AWS credentials); default: the local marketplace")
    parser.add_argument("--aws-endpoint", help="an explicit AWS endpoint (e.g. a local marketplace's moto server)")
    parser.add_argument("--registry", dest="target_registry", metavar="URL",
                        help="the running local marketplace at this address, when several run on this machine")
    parser.add_argument("--json", action="store_true", help="print JSON")


def extension_arg(args: argparse.Namespace) -> str:
    from marketplace.catalog.ids import EXTENSION_ID
    from marketplace.platform.errors import BadRequest

    extension_id = str(args.extension).lower()
    if not EXTENSION_ID.fullmatch(extension_id):
        raise BadRequest(f"{args.extension!r} is not an extension id (publisher.name)")
    return extension_id


def registry_and_token(args: argparse.Namespace) -> tuple[str, str] | None:
    registry = args.registry
    if not registry:
        from marketplace import operator

        try:
            registry = operator.resolve(None, None).base_url
        except operator.NoTarget as error:
            print(f"marketplace: --registry is required: {error}", file=sys.stderr)
            return None
    token = args.token or os.environ.get("MARKETPLACE_TOKEN")
    if not token:
        print("marketplace: a token is required (--token or MARKETPLACE_TOKEN)", file=sys.stderr)
        return None
    return str(registry).rstrip("/"), token


def tls_context(args: argparse.Namespace, registry: str) -> ssl.SSLContext | None:
    """Trust, besides the system's authorities, --ca-file / $MARKETPLACE_CA_FILE, or the CA of the running
    local marketplace when ``registry`` is its (HTTPS) address."""
    from marketplace.publishing.client import trusting

    ca_file = getattr(args, "ca_file", None) or os.environ.get("MARKETPLACE_CA_FILE")
    if not ca_file and registry.startswith("https://"):
        from marketplace import operator

        try:
            local = operator.resolve(None, None)
        except operator.NoTarget:
            local = None
        if local and local.ca_file and (local.base_url or "").rstrip("/") == registry.rstrip("/"):
            ca_file = local.ca_file
    return trusting(ca_file) if ca_file else None
