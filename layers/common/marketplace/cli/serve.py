"""``marketplace serve``: the whole marketplace locally (embedded moto, no AWS account, no Docker)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketplace.cli.common import Commands
    from marketplace.local.scheduler import MirrorOptions

DEFAULT_CONCURRENCY = 2  # marketplace.local.runtime.DEFAULT_HTTP_CONCURRENCY, without importing moto for --help
DEFAULT_MIRROR_INTERVAL = 6 * 3600  # the mirror function's default schedule, rate(6 hours)


def register(commands: Commands) -> None:
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
    storage = serve.add_mutually_exclusive_group()
    storage.add_argument("--data-dir", metavar="DIR",
                         help="keep everything (tables, packages, keys, queues, streams, the issuer key, TLS files) in "
                              "DIR across restarts and crashes (default: $MARKETPLACE_DATA_DIR, else "
                              "$XDG_DATA_HOME/marketplace, else ~/.local/share/marketplace)")
    storage.add_argument("--ephemeral", action="store_true",
                         help="keep everything in memory and lose it at stop (tests, demos)")
    mirror = serve.add_argument_group("scheduled mirror", "run the mirror function on an interval, as a deployment "
                                                          "runs it on its schedule (default: no mirror)")
    mirror.add_argument("--mirror-upstream", metavar="URL",
                        help="the registry to mirror (any registry speaking the Open VSX API)")
    mirror.add_argument("--mirror-allow", metavar="FILE",
                        help="the allow-list (read again before every run); required with --mirror-upstream")
    mirror.add_argument("--mirror-deny", metavar="FILE", help="the deny-list (read again before every run)")
    mirror.add_argument("--mirror-interval", type=float, metavar="SECONDS",
                        help=f"seconds between runs (default {DEFAULT_MIRROR_INTERVAL}: the deployed schedule's "
                             "rate); the first run starts with the marketplace")
    serve.set_defaults(run=run)


def _mirror_options(args: argparse.Namespace) -> MirrorOptions | None:
    """The scheduled mirror the arguments ask for (``None``: none); ``ValueError`` saying what is wrong."""
    from pathlib import Path

    from marketplace.local.scheduler import MirrorOptions
    from marketplace.mirror import lists
    from marketplace.platform.errors import MarketplaceError
    from marketplace.platform.functions import MirrorSettings

    if not args.mirror_upstream:
        given = [f"--mirror-{name}" for name in ("allow", "deny", "interval")
                 if getattr(args, f"mirror_{name}") is not None]
        if given:
            raise ValueError(f"{', '.join(given)} needs --mirror-upstream URL")
        return None
    if not args.mirror_allow:
        raise ValueError("--mirror-upstream needs --mirror-allow FILE: the allow-list of what to mirror (mirroring a "
                         "whole registry is never the default)")
    try:
        settings = MirrorSettings(args.mirror_upstream)
        lists.read_allow(Path(args.mirror_allow))  # refused now rather than at every run
        if args.mirror_deny:
            lists.read_deny(Path(args.mirror_deny))
        interval = DEFAULT_MIRROR_INTERVAL if args.mirror_interval is None else args.mirror_interval
        return MirrorOptions(settings, Path(args.mirror_allow).resolve(),
                             Path(args.mirror_deny).resolve() if args.mirror_deny else None, interval)
    except MarketplaceError as error:
        raise ValueError(error.message) from None
    except ValueError as error:
        raise ValueError(f"--mirror-upstream/--mirror-interval: {error}") from None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace import operator
    from marketplace.local.durable import directory as data_directory
    from marketplace.local.runtime import LocalMarketplace  # moto and friends load only for this command
    from marketplace.platform.errors import ConfigurationError

    data_dir = None if args.ephemeral else Path(args.data_dir or data_directory.default_directory()).expanduser()
    tls = None
    if args.tls:
        from marketplace.local import tls as local_tls

        default_tls = data_dir / data_directory.TLS_DIRECTORY if data_dir else operator.state_file().parent / "tls"
        directory = Path(args.tls_dir) if args.tls_dir else default_tls
        tls = local_tls.ensure(directory.resolve(), local_tls.names_for(args.host))
    if args.concurrency < 1:
        print("marketplace: --concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        mirror = _mirror_options(args)
    except ValueError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2
    runtime = LocalMarketplace(args.host, args.port, moto_port=args.moto_port, concurrency=args.concurrency,
                               tls=tls.server_context() if tls else None, ca_file=tls.ca_cert if tls else None,
                               issuer_key=None if data_dir else operator.issuer_key_path(), data_dir=data_dir,
                               mirror=mirror)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        runtime.start()
    except (OSError, ConfigurationError, data_directory.DataDirectoryError) as error:
        print(f"marketplace: cannot start: {error}", file=sys.stderr)
        runtime.stop()
        return 1
    operator.write_state(runtime.stage, runtime.moto_endpoint, runtime.base_url,
                         str(tls.ca_cert) if tls else None,
                         issuer_key=str(runtime.issuer_key) if runtime.issuer_key else None,
                         data_dir=str(runtime.data.path) if runtime.data else None)
    fragment = json.dumps(runtime.product_json(), indent=2)
    stored = (f"{runtime.data.path} (kept across restarts; back it up with: marketplace backup DEST)"
              if runtime.data else "in memory (--ephemeral): gone when it stops")
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
        f"  sign-in:       tokens from its own issuer {runtime.base_url}/local-issuer: marketplace dev-token USER\n"
        f"  publishers:    {runtime.base_url}/manage (sign-in for users made with: marketplace user add NAME)\n"
        f"  data:          {stored}\n"
        + (f"  mirror:        {mirror.settings.upstream} every {mirror.interval_seconds:g} s (allow-list "
           f"{mirror.allow_file})\n" if mirror is not None else "")
        + "\n"
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
