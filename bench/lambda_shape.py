"""The environment a benchmark's fresh interpreter runs in when it stands for a Lambda function: what Lambda
sets (region, function name and memory, the task root when tracing should be on) and what Powertools reads,
with the caller's AWS and Powertools variables left out and fake credentials, so nothing reaches AWS."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment(function: str, task_root: str | None = None) -> dict[str, str]:
    """``task_root``: set ``LAMBDA_TASK_ROOT`` (Powertools and ``platform.tracing`` trace only inside Lambda)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
        "PYTHONDONTWRITEBYTECODE": "0",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
    })
    if task_root is not None:
        env["LAMBDA_TASK_ROOT"] = task_root
    return env
