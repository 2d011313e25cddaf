"""``marketplace bundle keygen --out DIR``: the Ed25519 key pair that signs air-gapped bundles;
``marketplace bundle verify FILE --trusted-key PUB``: check a bundle whole without importing it.

The private key (``bundle-signing.key``) stays on the connected side, where ``marketplace mirror --to-bundle FILE
--sign-key KEY`` signs with it; the operator carries the public key (``bundle-signing.pub``) to the air-gapped
side, where ``marketplace import FILE --trusted-key PUB`` verifies every bundle with it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    bundle = commands.add_parser("bundle", help="air-gapped bundles: the key pair that signs them")
    bundle_commands = bundle.add_subparsers(dest="bundle_command", required=True)
    keygen = bundle_commands.add_parser(
        "keygen", help="write an Ed25519 key pair (bundle-signing.key, mode 0600, and bundle-signing.pub) into "
                       "DIR and print the key id; never overwrites")
    keygen.add_argument("--out", required=True, metavar="DIR", help="the directory for the two key files")
    keygen.set_defaults(run=run_keygen)
    verify = bundle_commands.add_parser(
        "verify", help="check a bundle's signature and every file's size and SHA-256, import nothing; list it")
    verify.add_argument("file", help="the bundle (*.mkpbundle)")
    verify.add_argument("--trusted-key", required=True, metavar="PUB", help="the public key it must be signed with")
    verify.add_argument("--allow-out", metavar="FILE",
                        help="write the allow-list the bundle carries (verified) to FILE, e.g. for "
                             "`marketplace mirror --allow FILE --print-policy`")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(run=run_verify)


def run_keygen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.mirror import bundle
    from marketplace.platform.errors import MarketplaceError

    directory = Path(args.out)
    try:
        key_id = bundle.generate_keys(directory)
    except MarketplaceError as error:
        print(f"marketplace: {error.message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"marketplace: cannot write the keys into {directory}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"Signing key (keep it on this side, private): {directory / bundle.PRIVATE_KEY_FILE}\n"
          f"Public key (carry it to the air-gapped side): {directory / bundle.PUBLIC_KEY_FILE}\n"
          "Key id:", file=sys.stderr)
    print(key_id)  # alone on standard output, for scripts
    return 0


def run_verify(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from marketplace.mirror import bundle
    from marketplace.platform.errors import MarketplaceError

    try:
        verified = bundle.verify_bundle(Path(args.file), trusted_key=Path(args.trusted_key))
    except MarketplaceError as error:
        print(f"marketplace: {error.message}", file=sys.stderr)
        return 1
    if args.allow_out:
        if verified.allow_text is None:
            print(f"marketplace: {args.file} carries no allow-list", file=sys.stderr)
            return 1
        try:
            Path(args.allow_out).write_text(verified.allow_text, encoding="utf-8")
        except OSError as error:
            print(f"marketplace: cannot write {args.allow_out}: {error.strerror or error}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({"bundle": str(verified.path), "keyId": verified.key_id, "created": verified.created,
                          "upstream": verified.upstream, "packages": verified.packages,
                          "allowList": verified.allow_text is not None}, indent=2))
        return 0
    print(f"{verified.path}: signed by key {verified.key_id}, created {verified.created}, from {verified.upstream}; "
          f"every file matches the manifest.")
    for name in verified.packages:
        print(f"  {name.removeprefix('packages/')}  ({verified.files[name]} bytes)")
    allow = "carries its allow-list" if verified.allow_text is not None else "carries no allow-list"
    print(f"{len(verified.packages)} package(s); {allow}.")
    return 0
