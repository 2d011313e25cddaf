"""Cold-start cost of each Lambda function, as a ratio to the bare ``import boto3`` + one client floor.

Each sample is a fresh interpreter that times, from its first line, the import of the function's handler
module plus the creation of the SDK clients that function uses (one per AWS service it is granted), in
an environment shaped like Lambda's (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, tracing on). The
floor is the same interpreter doing only ``import boto3`` and one client. Floor and functions are sampled
round-robin in one run, so machine noise hits them alike; the table reports medians of 15.

The functions load with the garbage collector paused (``marketplace.platform.coldstart``), which the floor,
the SDK as it comes, does not do. So that the table shows what that pause is worth and what the rest costs,
a second floor pauses the collector the same way, and each function's ratio to it is printed beside the
budgeted one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import lambda_shape
from marketplace.platform.functions import FUNCTIONS, FunctionDef, KeyGrant, ObjectGrant, StreamGrant, TableGrant

ROOT = Path(__file__).resolve().parents[1]
BUDGET_RATIO = 1.25

_PROBE = """
import sys, time
started = time.perf_counter()
target, services = sys.argv[1], sys.argv[2:]
if target == "floor":
    import boto3
    boto3.client("s3")
elif target == "paused floor":
    import gc
    gc.disable()
    import boto3
    boto3.client("s3")
    gc.enable()
else:
    import importlib
    importlib.import_module(target)
    from marketplace.platform import aws
    for service in services:
        aws.client(service)
print((time.perf_counter() - started) * 1000)
"""


def services_of(fn: FunctionDef) -> list[str]:
    """The AWS services a function's code creates clients for, from its grants and event source."""
    services: list[str] = []
    for grant in fn.grants:
        match grant:
            case TableGrant():
                services.append("dynamodb")
            case ObjectGrant():
                services.append("s3")
            case StreamGrant():
                services.append("kinesis")
            case KeyGrant():
                services.append("kms")
    return list(dict.fromkeys(services))


@dataclass(frozen=True)
class Row:
    name: str
    services: tuple[str, ...]
    median_ms: float
    ratio: float
    paused_ratio: float  # to the floor with the collector paused like the functions'

    @property
    def ok(self) -> bool:
        return self.ratio <= BUDGET_RATIO


def _environment(fn_name: str, task_root: str) -> dict[str, str]:
    return lambda_shape.environment(fn_name, task_root)


def _sample(target: str, services: list[str], env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", _PROBE, target, *services], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(rounds: int = 15) -> tuple[float, float, list[Row]]:
    with tempfile.TemporaryDirectory() as task_root:
        targets: list[tuple[str, str, list[str]]] = [("floor", "floor", []), ("paused floor", "paused floor", [])]
        targets += [(fn.name, fn.module, services_of(fn)) for fn in FUNCTIONS]
        samples: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        for name, module, services in targets:  # warm the file cache and bytecode once
            _sample(module, services, _environment(name, task_root))
        for _ in range(rounds):
            for name, module, services in targets:
                samples[name].append(_sample(module, services, _environment(name, task_root)))
    floor, paused = statistics.median(samples["floor"]), statistics.median(samples["paused floor"])
    rows = []
    for name, _, services in targets[2:]:
        median = statistics.median(samples[name])
        rows.append(Row(name, tuple(services), median, median / floor, median / paused))
    return floor, paused, rows


def table(floor: float, paused: float, rows: list[Row]) -> str:
    lines = [
        f"Cold start: handler import + client creation vs `import boto3` + one client (floor {floor:.0f} ms, "
        f"budget {BUDGET_RATIO}x; the same floor with the collector paused {paused:.0f} ms)",
        f"| {'function':<15} | {'clients':<22} | {'median ms':>9} | {'ratio':>5} | {'ok':<3} | "
        f"{'vs paused floor':>15} |",
        f"|{'-' * 17}|{'-' * 24}|{'-' * 11}|{'-' * 7}|{'-' * 5}|{'-' * 17}|",
    ]
    for row in rows:
        lines.append(f"| {row.name:<15} | {','.join(row.services):<22} | {row.median_ms:>9.0f} | "
                     f"{row.ratio:>5.2f} | {'yes' if row.ok else 'NO':<3} | {row.paused_ratio:>15.2f} |")
    return "\n".join(lines)
