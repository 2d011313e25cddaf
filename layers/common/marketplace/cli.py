"""The ``marketplace`` command: ``marketplace serve`` runs the whole marketplace locally."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType


def _serve(args: argparse.Namespace) -> int:
    from marketplace.local.runtime import LocalMarketplace  # moto and friends load only for this command

    runtime = LocalMarketplace(args.host, args.port, moto_port=args.moto_port)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        runtime.start()
    except OSError as error:
        print(f"marketplace: cannot start: {error}", file=sys.stderr)
        runtime.stop()
        return 1
    fragment = json.dumps(runtime.product_json(), indent=2)
    print(
        f"Marketplace is running at {runtime.base_url}\n"
        f"  health:        {runtime.base_url}/healthz\n"
        f"  AWS (moto):    {runtime.moto_endpoint}\n\n"
        "Add this to the editor's product.json (code-server: EXTENSIONS_GALLERY='<extensionsGallery value>'):\n"
        f"{fragment}\n\nPress Ctrl-C to stop.",
        flush=True,
    )
    stop.wait()
    print("\nStopping...", flush=True)
    runtime.stop()
    print("Stopped.", flush=True)
    return 0


def _product_json(args: argparse.Namespace) -> int:
    from marketplace.platform.endpoints import product_json

    print(json.dumps(product_json(args.base_url), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="marketplace", description=__doc__)
    root.add_argument("-v", "--verbose", action="store_true", help="log every request and poll")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the whole marketplace locally (embedded moto, no AWS)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks one)")
    serve.add_argument("--moto-port", type=int, default=0, help="port of the embedded AWS emulator (default: any)")
    serve.set_defaults(run=_serve)

    product = commands.add_parser("product-json", help="print the product.json fragment for a base URL")
    product.add_argument("base_url", help="the deployment's CloudFront URL, e.g. https://d111.cloudfront.net")
    product.set_defaults(run=_product_json)
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
