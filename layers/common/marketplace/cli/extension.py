"""``marketplace extension ...``: an owner's lifecycle actions through the API (unpublish, deprecate,
undeprecate) and the operator's (feature, block)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from marketplace.cli.common import (
    add_target_options,
    emit,
    extension_arg,
    operator_command,
    registry_and_token,
    tls_context,
)

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    extension = commands.add_parser("extension", help="an owner's actions on a published extension")
    extension_commands = extension.add_subparsers(dest="extension_command", required=True)
    for name, method, path, help_text in (
        ("unpublish", "POST", "unpublish", "withdraw one version, one version's target, or every version"),
        ("deprecate", "POST", "deprecate", "deprecate, optionally naming the replacement"),
        ("undeprecate", "DELETE", "deprecate", "lift a deprecation"),
    ):
        action = extension_commands.add_parser(name, help=help_text)
        action.add_argument("extension", help="publisher.name")
        action.add_argument("--registry", help="the marketplace's base URL (default: the running local marketplace)")
        action.add_argument("--token", help="an owner's personal access token (default: $MARKETPLACE_TOKEN)")
        action.add_argument("--ca-file", help="also trust this CA (PEM) for an HTTPS registry")
        if name == "unpublish":
            action.add_argument("--version", help="only this version (default: every version)")
            action.add_argument("--target", help="only this target platform of --version")
        if name == "deprecate":
            action.add_argument("--replacement", help="publisher.name of the extension to use instead")
            action.add_argument("--message", help="a short explanation shown to users")
        action.set_defaults(run=owner_action, method=method, path=path)
    feature = extension_commands.add_parser("feature", help="operator: list an extension under Featured")
    feature.add_argument("extension", help="publisher.name")
    feature.add_argument("--off", action="store_true", help="stop featuring it")
    add_target_options(feature)
    feature.set_defaults(run=operator_command, action=set_featured)
    block = extension_commands.add_parser("block", help="operator: block a malicious extension everywhere")
    block.add_argument("extension", help="publisher.name")
    block.add_argument("--reason", help="why (kept with the block)")
    block.add_argument("--off", action="store_true", help="lift the block")
    add_target_options(block)
    block.set_defaults(run=operator_command, action=set_blocked)


def owner_action(args: argparse.Namespace) -> int:
    """An owner's lifecycle action through the API (owners are not operators: they hold a token)."""
    from marketplace.publishing import client

    target = registry_and_token(args)
    if target is None:
        return 2
    registry, token = target
    namespace, _, extension = args.extension.partition(".")
    if not namespace or not extension:
        print("marketplace: name the extension as publisher.name", file=sys.stderr)
        return 2
    url = f"{registry}/api/publish/extensions/{namespace}/{extension}/{args.path}"
    body: dict[str, Any] = {}
    for option, field in (("version", "version"), ("target", "targetPlatform"), ("replacement", "replacement"),
                          ("message", "message")):
        if getattr(args, option, None):
            body[field] = getattr(args, option)
    try:
        answer = client.api(args.method, url, token, body, context=tls_context(args, registry))
    except client.PublishError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0


def set_featured(args: argparse.Namespace) -> int:
    from marketplace.catalog import store as catalog
    from marketplace.platform.errors import NotFound

    extension_id = extension_arg(args)
    featured = not args.off
    try:
        catalog.set_featured(extension_id, featured)
    except LookupError as error:
        raise NotFound(str(error)) from error
    emit(args, {"extension": extension_id, "featured": featured},
         f"{extension_id} is {'featured' if featured else 'no longer featured'}.")
    return 0


def set_blocked(args: argparse.Namespace) -> int:
    from marketplace.catalog import store as catalog
    from marketplace.platform.errors import NotFound
    from marketplace.publishing.tokens import utcnow

    extension_id = extension_arg(args)
    try:
        catalog.set_malicious(extension_id, not args.off, args.reason, utcnow())
    except LookupError as error:
        raise NotFound(str(error)) from error
    state = "no longer blocked" if args.off else "blocked: hidden from the gallery and listed as malicious"
    emit(args, {"extension": extension_id, "malicious": not args.off}, f"{extension_id} is {state}.")
    return 0
