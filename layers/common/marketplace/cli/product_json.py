"""``marketplace product-json URL``: the editor configuration (``product.json`` fragment) for a deployment."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketplace.cli.common import Commands


def register(commands: Commands) -> None:
    product = commands.add_parser("product-json", help="print the product.json fragment for a base URL")
    product.add_argument("base_url", help="the deployment's CloudFront URL, e.g. https://d111.cloudfront.net")
    product.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from marketplace.platform.endpoints import product_json

    print(json.dumps(product_json(args.base_url), indent=2))
    return 0
