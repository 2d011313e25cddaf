"""The ``marketplace`` command.

- ``marketplace serve``: the whole marketplace locally (embedded moto, no AWS account, no Docker).
- ``marketplace publisher create|member``, ``marketplace token create|list|revoke``: operator commands; they
  act on the running local marketplace, or on a deployment with ``--stage`` and the caller's AWS credentials.
- ``marketplace publish FILE.vsix``: upload a package and wait for the ingest's verdict.
- ``marketplace extension unpublish|deprecate|undeprecate ID``: an owner's lifecycle actions.
- ``marketplace extension feature|block ID [--off]``, ``marketplace publisher verify NS``: operator actions.
- ``marketplace review list|hide|unhide ID ...``: operators moderate reviews (a hidden review leaves the average).
- ``marketplace product-json URL``: the editor configuration for a deployment.
- ``marketplace search rebuild``: write the whole search snapshot from the extensions table (operator).
- ``marketplace dev-token USER``: a bearer token from the running local marketplace's own issuer (Settings Sync).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marketplace.reviews.store import CatalogEntry

DEFAULT_CONCURRENCY = 2  # marketplace.local.runtime.DEFAULT_HTTP_CONCURRENCY, without importing moto for --help


def _serve(args: argparse.Namespace) -> int:
    from marketplace import operator
    from marketplace.local.runtime import LocalMarketplace  # moto and friends load only for this command
    from marketplace.platform.errors import ConfigurationError

    tls = None
    if args.tls:
        from pathlib import Path

        from marketplace.local import tls as local_tls

        directory = Path(args.tls_dir) if args.tls_dir else operator.state_file().parent / "tls"
        tls = local_tls.ensure(directory.resolve(), local_tls.names_for(args.host))
    if args.concurrency < 1:
        print("marketplace: --concurrency must be at least 1", file=sys.stderr)
        return 2
    runtime = LocalMarketplace(args.host, args.port, moto_port=args.moto_port, concurrency=args.concurrency,
                               tls=tls.server_context() if tls else None, ca_file=tls.ca_cert if tls else None)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        runtime.start()
    except (OSError, ConfigurationError) as error:
        print(f"marketplace: cannot start: {error}", file=sys.stderr)
        runtime.stop()
        return 1
    operator.write_state(runtime.stage, runtime.moto_endpoint, runtime.base_url,
                         str(tls.ca_cert) if tls else None)
    fragment = json.dumps(runtime.product_json(), indent=2)
    trust = ""
    if tls:
        trust = (
            f"HTTPS, with a certificate ({', '.join(tls.names)}) from the local CA {tls.ca_cert}\n"
            f"({'made now' if tls.created else 'reused'}; valid until {tls.not_after:%Y-%m-%d}). To trust it:\n"
            f"  Node, code-server: NODE_EXTRA_CA_CERTS={tls.ca_cert}\n"
            f"  curl:              curl --cacert {tls.ca_cert} {runtime.base_url}/healthz\n"
            f"  browsers:          import {tls.ca_cert.name} as a certificate authority (it only vouches for the names"
            " above)\n"
            f"  Chromium in tests: --ignore-certificate-errors-spki-list={tls.spki_sha256}\n"
            "  marketplace CLI:   finds the CA through the state file; elsewhere --ca-file (or MARKETPLACE_CA_FILE)\n\n"
        )
    print(
        f"Marketplace is running at {runtime.base_url}\n"
        f"  health:        {runtime.base_url}/healthz\n"
        f"  AWS (moto):    {runtime.moto_endpoint}\n"
        f"  sign-in:       tokens from its own issuer {runtime.base_url}/local-issuer: marketplace dev-token USER\n\n"
        f"{trust}"
        "Add this to the editor's product.json (code-server: EXTENSIONS_GALLERY='<extensionsGallery value>'):\n"
        f"{fragment}\n\nPress Ctrl-C to stop.",
        flush=True,
    )
    try:
        # Wake up twice a second: a wait without a timeout can sleep through a signal that the kernel handed to
        # another thread, and Python runs signal handlers only in the main thread, between bytecodes.
        while not stop.wait(0.5):
            pass
    finally:
        operator.clear_state()
    print("\nStopping...", flush=True)
    runtime.stop()
    print("Stopped.", flush=True)
    return 0


def _product_json(args: argparse.Namespace) -> int:
    from marketplace.platform.endpoints import product_json

    print(json.dumps(product_json(args.base_url), indent=2))
    return 0


def _operator(args: argparse.Namespace) -> int:
    """Run an operator command against its target, turning domain errors into one clear line."""
    from marketplace import operator
    from marketplace.platform.errors import MarketplaceError

    try:
        target = operator.resolve(args.stage, args.aws_endpoint)
    except operator.NoTarget as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    operator.activate(target)
    try:
        result: int = args.action(args)
    except MarketplaceError as error:
        print(f"marketplace: {error.message}", file=sys.stderr)
        return 1
    return result


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _publisher_create(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    namespace, token = service.create_publisher(args.name, args.owner, allow_reserved=args.allow_reserved,
                                                token_days=args.token_days)
    _emit(args, {"namespace": namespace.name, "owner": args.owner, "token": token},
          f"Created publisher {namespace.name} (owner {args.owner}).\n"
          f"Personal access token (shown once; store it now):\n{token}")
    return 0


def _member_add(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    service.add_member(args.namespace, args.user, args.role)
    _emit(args, {"namespace": args.namespace, "user": args.user, "role": args.role},
          f"{args.user} is now {args.role} of {args.namespace}.")
    return 0


def _publisher_verify(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    verified = not args.revoke
    changed = service.verify_namespace(args.namespace, verified)
    state = "verified" if verified else "no longer verified"
    _emit(args, {"namespace": args.namespace.lower(), "verified": verified, "extensions": changed},
          f"Publisher {args.namespace.lower()} is {state} ({len(changed)} extension(s) updated).")
    return 0


def _extension_id(args: argparse.Namespace) -> str:
    from marketplace.catalog.ids import EXTENSION_ID
    from marketplace.platform.errors import BadRequest

    extension_id = str(args.extension).lower()
    if not EXTENSION_ID.fullmatch(extension_id):
        raise BadRequest(f"{args.extension!r} is not an extension id (publisher.name)")
    return extension_id


def _extension_feature(args: argparse.Namespace) -> int:
    from marketplace.catalog import store as catalog
    from marketplace.platform.errors import NotFound

    extension_id = _extension_id(args)
    featured = not args.off
    try:
        catalog.set_featured(extension_id, featured)
    except LookupError as error:
        raise NotFound(str(error)) from error
    _emit(args, {"extension": extension_id, "featured": featured},
          f"{extension_id} is {'featured' if featured else 'no longer featured'}.")
    return 0


def _extension_block(args: argparse.Namespace) -> int:
    from marketplace.catalog import store as catalog
    from marketplace.platform.errors import NotFound
    from marketplace.publishing.tokens import utcnow

    extension_id = _extension_id(args)
    try:
        catalog.set_malicious(extension_id, not args.off, args.reason, utcnow())
    except LookupError as error:
        raise NotFound(str(error)) from error
    state = "no longer blocked" if args.off else "blocked: hidden from the gallery and listed as malicious"
    _emit(args, {"extension": extension_id, "malicious": not args.off}, f"{extension_id} is {state}.")
    return 0


def _stats_report(args: argparse.Namespace) -> int:
    from marketplace.platform.errors import NotFound
    from marketplace.stats import store

    extension_id = _extension_id(args)
    found = store.report(extension_id)
    if found is None:
        raise NotFound(f"No statistics for {extension_id} yet")
    lines = [f"{extension_id}: {found.get('installs', 0)} installs, {found.get('downloads', 0)} downloads, "
             f"{found.get('weekly_downloads', 0)} in the last 7 days",
             "trending: " + ", ".join(f"{w} {found[f'trending_{w}']:.2f}" for w in ("daily", "weekly", "monthly")),
             f"activations, last 7 days: {found['activations_7d']['activations']} "
             f"(P50 {found['activations_7d']['p50_ms']} ms, P95 {found['activations_7d']['p95_ms']} ms)"]
    lines += [f"  {d['day']}: {d['activations']} activations, P50 {d['p50_ms']} ms, P95 {d['p95_ms']} ms"
              for d in found["activations_by_day"]]
    _emit(args, found, "\n".join(lines))
    return 0


def _review_extension(args: argparse.Namespace) -> CatalogEntry:
    from marketplace.reviews import service

    return service.extension_by_id(_extension_id(args))


def _review_list(args: argparse.Namespace) -> int:
    from marketplace.reviews import service, store

    entry = _review_extension(args)
    reviews = service.newest_first(store.reviews_of(entry.extension_id))
    total, count = store.rating_totals(entry.extension_id)
    average = f"{total / count:.2f}" if count else "none"
    rows = [{"id": r.user_id, "reviewer": r.display_name, "provider": r.provider, "rating": r.rating,
             "version": r.version, "title": r.title, "updated": r.updated_at, "hidden": r.hidden,
             "hidden_reason": r.hidden_reason, "hidden_at": r.hidden_at} for r in reviews]
    lines = [f"{entry.display_id}: {count} counted rating(s), average {average}"]
    if reviews:
        lines.append(f"{'id':<12}  {'rating':<6}  {'version':<12}  {'updated':<24}  {'state':<8}  reviewer")
        for r in reviews:
            state = "hidden" if r.hidden else "visible"
            why = f" ({r.hidden_reason})" if r.hidden and r.hidden_reason else ""
            lines.append(f"{r.user_id[:12]:<12}  {r.rating:<6}  {r.version[:12]:<12}  {r.updated_at:<24}  "
                         f"{state:<8}  {r.display_name} [{r.provider}]{why}")
    else:
        lines.append("No reviews.")
    _emit(args, {"extension": entry.extension_id, "rating_sum": total, "rating_count": count, "reviews": rows},
          "\n".join(lines))
    return 0


def _review_hide(args: argparse.Namespace) -> int:
    from marketplace.reviews import service

    entry = _review_extension(args)
    found = service.find(entry, args.reviewer)
    review, changed = service.set_hidden(entry, found.user_id, args.hidden, getattr(args, "reason", None))
    state = "hidden" if review.hidden else "visible"
    text = (f"The review of {entry.display_id} by {review.display_name} ({review.user_id[:12]}) is "
            f"{'now' if changed else 'already'} {state}.")
    _emit(args, {"extension": entry.extension_id, "id": review.user_id, "reviewer": review.display_name,
                 "hidden": review.hidden, "changed": changed}, text)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    token = service.create_token(args.user, args.namespace, days=args.days, description=args.description)
    _emit(args, {"user": args.user, "namespaces": args.namespace, "token": token},
          f"Personal access token for {args.user} on {', '.join(args.namespace)} (shown once):\n{token}")
    return 0


def _token_list(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    views = service.list_tokens(args.user)
    rows = [{"id": v.token_id, "state": v.state, "namespaces": list(v.namespaces), "created": v.created_at,
             "expires": v.expires, "last_used": v.last_used_at, "description": v.description} for v in views]
    lines = [f"{'id':<16}  {'state':<8}  {'expires':<10}  {'last used':<16}  namespaces"]
    lines += [f"{v.token_id:<16}  {v.state:<8}  {v.expires:%Y-%m-%d}  "
              f"{(f'{v.last_used_at:%Y-%m-%d %H:%M}' if v.last_used_at else 'never'):<16}  {', '.join(v.namespaces)}"
              for v in views]
    _emit(args, rows, "\n".join(lines) if views else f"{args.user} has no tokens.")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from marketplace.publishing import service

    view = service.revoke_token(args.token_id)
    _emit(args, {"id": view.token_id, "state": view.state}, f"Token {view.token_id} is revoked.")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.publishing import client

    target = _registry_and_token(args)
    if target is None:
        return 2
    registry, token = target
    try:
        verdict = client.publish(Path(args.file), registry, token, wait_seconds=args.wait,
                                 context=_tls_context(args, registry),
                                 progress=None if args.quiet else client.progress_bar())
    except client.PublishError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    if verdict.status == "published":
        extension = verdict.upload.get("extension", {})
        target = extension.get("targetPlatform")
        suffix = f" ({target})" if target and target != "universal" else ""
        print(f"Published {extension.get('id')} v{extension.get('version')}{suffix}.")
        return 0
    print(f"marketplace: rejected: {verdict.reason}", file=sys.stderr)
    return 1


def _registry_and_token(args: argparse.Namespace) -> tuple[str, str] | None:
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


def _tls_context(args: argparse.Namespace, registry: str) -> ssl.SSLContext | None:
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


def _dev_token(args: argparse.Namespace) -> int:
    """A token from the running local marketplace's issuer (its key lives next to the state file)."""
    from marketplace import operator
    from marketplace.identity import local_issuer

    try:
        base_url = operator.resolve(None, None).base_url
    except operator.NoTarget as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    if not base_url:
        print("marketplace: the running local marketplace did not record its address: restart it", file=sys.stderr)
        return 2
    path = local_issuer.default_key_path()
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


def _search_rebuild(args: argparse.Namespace) -> int:
    """The whole search snapshot from a scan of the extensions table: the first one, or after trouble."""
    from marketplace import operator
    from marketplace.platform import resources as r
    from marketplace.search import indexer

    bucket = args.bucket
    if not bucket:
        target = operator.resolve(args.stage, args.aws_endpoint)
        if not target.aws_endpoint:  # a deployed stage: CDK names the bucket
            print("marketplace: name the packages bucket with --bucket (the stack's PackagesBucketName output)",
                  file=sys.stderr)
            return 2
        bucket = f"{r.PRODUCT}-{target.stage}-{r.PACKAGES_BUCKET.id}"  # as the local runtime provisions it
    os.environ[r.PACKAGES_BUCKET.env_var] = bucket
    manifest = indexer.rebuild()
    _emit(args, {"extensions": manifest.total, "segments": len(manifest.segments), "bucket": bucket},
          f"Rebuilt the search snapshot: {manifest.total} extensions in {len(manifest.segments)} segments "
          f"(s3://{bucket}/{r.PACKAGES_BUCKET.private_prefix}search/).")
    return 0


def _extension_action(args: argparse.Namespace) -> int:
    """An owner's lifecycle action through the API (owners are not operators: they hold a token)."""
    from marketplace.publishing import client

    target = _registry_and_token(args)
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
        answer = client.api(args.method, url, token, body, context=_tls_context(args, registry))
    except client.PublishError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    return 0


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", help="a deployed stage (uses your AWS credentials); default: the local marketplace")
    parser.add_argument("--aws-endpoint", help="an explicit AWS endpoint (e.g. a local marketplace's moto server)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="marketplace", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("-v", "--verbose", action="store_true", help="log every request and poll")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the whole marketplace locally (embedded moto, no AWS)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks one)")
    serve.add_argument("--moto-port", type=int, default=0, help="port of the embedded AWS emulator (default: any)")
    serve.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                       help="execution environments (worker processes) each HTTP function may run at once "
                            f"(default {DEFAULT_CONCURRENCY}); event-source functions run one, as their reserved "
                            "concurrency allows")
    serve.add_argument("--tls", action="store_true",
                       help="serve HTTPS with a certificate from a local CA, made once and reused (browser clients)")
    serve.add_argument("--tls-dir", help="where the CA and certificate live (default: .build/tls, next to the state "
                                         "file)")
    serve.set_defaults(run=_serve)

    product = commands.add_parser("product-json", help="print the product.json fragment for a base URL")
    product.add_argument("base_url", help="the deployment's CloudFront URL, e.g. https://d111.cloudfront.net")
    product.set_defaults(run=_product_json)

    publisher = commands.add_parser("publisher", help="publishers (namespaces) and their members")
    publisher_commands = publisher.add_subparsers(dest="publisher_command", required=True)
    create = publisher_commands.add_parser("create", help="create a publisher and print a token for its owner")
    create.add_argument("name", help="the namespace: the `publisher` field of the extensions' package.json")
    create.add_argument("--owner", required=True, help="the owner's user name (e-mail or login)")
    create.add_argument("--allow-reserved", action="store_true", help="operator override for reserved names")
    create.add_argument("--token-days", type=int, help="lifetime of the owner's first token (default 90)")
    _add_target_options(create)
    create.set_defaults(run=_operator, action=_publisher_create)
    member = publisher_commands.add_parser("member", help="add a member to a publisher")
    member.add_argument("namespace")
    member.add_argument("user")
    member.add_argument("--role", choices=("owner", "contributor"), default="contributor")
    _add_target_options(member)
    member.set_defaults(run=_operator, action=_member_add)
    verify = publisher_commands.add_parser("verify", help="vouch for a publisher: its extensions show as verified")
    verify.add_argument("namespace")
    verify.add_argument("--revoke", action="store_true", help="take the verification back")
    _add_target_options(verify)
    verify.set_defaults(run=_operator, action=_publisher_verify)

    publish = commands.add_parser("publish", help="publish a .vsix (straight to storage, then wait for the verdict)")
    publish.add_argument("file", help="the .vsix to publish")
    publish.add_argument("--registry", help="the marketplace's base URL (default: the running local marketplace)")
    publish.add_argument("--token", help="a personal access token (default: $MARKETPLACE_TOKEN)")
    publish.add_argument("--wait", type=float, default=300, help="seconds to wait for the verdict (default 300)")
    publish.add_argument("--quiet", action="store_true", help="no progress bar")
    publish.add_argument("--ca-file", help="also trust this CA (PEM) for an HTTPS registry (default: "
                                           "$MARKETPLACE_CA_FILE, or the running local marketplace's)")
    publish.set_defaults(run=_publish)

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
        action.set_defaults(run=_extension_action, method=method, path=path)
    feature = extension_commands.add_parser("feature", help="operator: list an extension under Featured")
    feature.add_argument("extension", help="publisher.name")
    feature.add_argument("--off", action="store_true", help="stop featuring it")
    _add_target_options(feature)
    feature.set_defaults(run=_operator, action=_extension_feature)
    block = extension_commands.add_parser("block", help="operator: block a malicious extension everywhere")
    block.add_argument("extension", help="publisher.name")
    block.add_argument("--reason", help="why (kept with the block)")
    block.add_argument("--off", action="store_true", help="lift the block")
    _add_target_options(block)
    block.set_defaults(run=_operator, action=_extension_block)

    stats = commands.add_parser("stats", help="operator: an extension's statistics")
    stats_commands = stats.add_subparsers(dest="stats_command", required=True)
    stats_report = stats_commands.add_parser("report", help="totals, trending, weekly downloads and activation "
                                             "times per day")
    stats_report.add_argument("extension", help="publisher.name")
    _add_target_options(stats_report)
    stats_report.set_defaults(run=_operator, action=_stats_report)

    review = commands.add_parser("review", help="operator: moderate ratings and reviews")
    review_commands = review.add_subparsers(dest="review_command", required=True)
    review_list = review_commands.add_parser("list", help="every review of an extension, hidden ones included")
    review_list.add_argument("extension", help="publisher.name")
    _add_target_options(review_list)
    review_list.set_defaults(run=_operator, action=_review_list)
    for name, hidden, help_text in (
        ("hide", True, "hide a review: it leaves the public list and the extension's average"),
        ("unhide", False, "show a hidden review again (it counts again)"),
    ):
        moderate = review_commands.add_parser(name, help=help_text)
        moderate.add_argument("extension", help="publisher.name")
        moderate.add_argument("reviewer", help="the reviewer's name, or the review's id (or its first characters) "
                                               "as 'marketplace review list' shows it")
        if hidden:
            moderate.add_argument("--reason", help="why (kept with the review, never shown publicly)")
        _add_target_options(moderate)
        moderate.set_defaults(run=_operator, action=_review_hide, hidden=hidden)

    search = commands.add_parser("search", help="the gallery's search snapshot")
    search_commands = search.add_subparsers(dest="search_command", required=True)
    rebuild = search_commands.add_parser("rebuild", help="rewrite the whole search snapshot from the extensions "
                                                         "table (first deployment, recovery, fresh statistics)")
    rebuild.add_argument("--bucket", help="the packages bucket (needed with --stage: the PackagesBucketName output)")
    _add_target_options(rebuild)
    rebuild.set_defaults(run=_operator, action=_search_rebuild)

    dev_token = commands.add_parser(
        "dev-token", help="print a bearer token for USER from the running local marketplace's own issuer "
                          "(Settings Sync; clients send it with X-Account-Type: local)")
    dev_token.add_argument("user", help="the user (the token's subject)")
    dev_token.add_argument("--ttl", type=int, default=12 * 3600, metavar="SECONDS",
                           help="lifetime in seconds (default 43200: 12 hours)")
    dev_token.set_defaults(run=_dev_token)

    token = commands.add_parser("token", help="personal access tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_create = token_commands.add_parser("create", help="create a token (printed once)")
    token_create.add_argument("--user", required=True)
    token_create.add_argument("--namespace", action="append", required=True, help="repeat for several namespaces")
    token_create.add_argument("--days", type=int, help="lifetime in days (default 90, at most 366)")
    token_create.add_argument("--description")
    _add_target_options(token_create)
    token_create.set_defaults(run=_operator, action=_token_create)
    token_list = token_commands.add_parser("list", help="list a user's tokens (never their values)")
    token_list.add_argument("--user", required=True)
    _add_target_options(token_list)
    token_list.set_defaults(run=_operator, action=_token_list)
    token_revoke = token_commands.add_parser("revoke", help="revoke a token by its id")
    token_revoke.add_argument("token_id")
    _add_target_options(token_revoke)
    token_revoke.set_defaults(run=_operator, action=_token_revoke)
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
