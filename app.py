#!/usr/bin/env python3
"""CDK entry point: ``python app.py`` or ``npx cdk synth [-c stage=prod] [-c account=... -c region=...]``.

Synthesizes offline into ``cdk.out`` (or ``$CDK_OUTDIR`` under the CDK CLI).
"""

from __future__ import annotations

import os
import sys

from stacks.layer import LayerBuildError
from stacks.marketplace_stack import build_app


def main() -> int:
    outdir = None if os.environ.get("CDK_OUTDIR") else "cdk.out"
    try:
        app, _ = build_app(outdir=outdir)
    except (ValueError, LayerBuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
