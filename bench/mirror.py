"""``marketplace mirror`` between two local marketplaces: how fast a first mirror runs, and what a run with nothing
new costs.

Two ``marketplace serve`` processes (``tests.e2e.conftest.serving``) on 127.0.0.1: the upstream gets ``small``
packages of a few KiB and ``large`` ones of about ``large_mib`` MiB each (incompressible content), imported in one
``marketplace import`` (namespaces created); every one is allow-listed. Then ``marketplace mirror --rate 0
--jobs 4`` runs twice against the other marketplace, as an operator runs it (its own process, its JSON report):

1. the first run: every package downloaded, checked (SHA-256, the upstream's repository signature) and put
   through the local ingest; packages/s and MiB/s of the whole command (the process, the plan, the run);
2. the incremental run, nothing new upstream: its time, its upstream requests and the bytes it downloaded.

Goal: the incremental run costs one metadata request per wanted extension and downloads nothing. The rate limit
is off so that the table shows the pipeline rather than the politeness (at the default 4 requests a second, the
incremental run of N extensions takes N / 4 seconds). The first run's pace is the local ingest's: the local
runtime settles one upload at a time, and each package waits for its verdict. Progress goes to stderr; the table to
stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import vsix_factory

SMALL = 40
LARGE = 2
LARGE_MIB = 10
MiB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    seconds: float
    published: int
    present: int
    requests: int
    bytes: int
    ok: bool


@dataclass(frozen=True)
class Result:
    small: int
    large: int
    large_mib: int
    extensions: int
    package_bytes: int
    first: Run
    incremental: Run

    @property
    def ok(self) -> bool:
        return (self.first.ok and self.first.published == self.extensions and self.incremental.ok
                and self.incremental.present == self.extensions and self.incremental.bytes == 0
                and self.incremental.requests == self.extensions)


def _log(message: str) -> None:
    print(f"mirror: {message}", file=sys.stderr, flush=True)


def build_packages(folder: Path, small: int, large: int, large_mib: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [vsix_factory.build_vsix(folder / f"small{i}.vsix", publisher="benchpub", name=f"small{i}")
             for i in range(small)]
    for index in range(large):
        blobs = {f"extension/media/blob{j}.bin": os.urandom(MiB) for j in range(large_mib)}
        paths.append(vsix_factory.build_vsix(folder / f"large{index}.vsix", publisher="benchbig", name=f"large{index}",
                                             extra_files=blobs))
    return paths


def _mirror(local: Any, upstream: Any, allow: Path) -> Run:
    started = time.perf_counter()
    done = local.cli("mirror", "--upstream", upstream.base_url, "--allow", str(allow), "--rate", "0", "--jobs", "4",
                     "--json", check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(f"marketplace mirror failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    totals = report["totals"]
    return Run(seconds, totals["published"], totals["present"], report["requests"], report["bytesTransferred"],
               bool(report["ok"]))


def measure(small: int = SMALL, large: int = LARGE, large_mib: int = LARGE_MIB) -> Result:
    from tests.e2e.conftest import serving

    with tempfile.TemporaryDirectory(prefix="bench-mirror-") as temporary:
        folder = Path(temporary)
        _log(f"building {small} small and {large} packages of {large_mib} MiB")
        packages = build_packages(folder / "packages", small, large, large_mib)
        allow = folder / "allow.txt"  # every id listed: a namespace line would cost one listing request more
        allow.write_text("".join(f"benchpub.small{i}\n" for i in range(small))
                         + "".join(f"benchbig.large{i}\n" for i in range(large)))
        with contextlib.redirect_stdout(sys.stderr), serving(folder / "upstream") as upstream, \
                serving(folder / "local") as local:
            _log("importing them upstream")
            upstream.cli("import", str(folder / "packages"), "--create-namespaces", "--owner", "bench", "--jobs", "4",
                         "--quiet")
            _log("first mirror")
            first = _mirror(local, upstream, allow)
            _log("incremental mirror")
            incremental = _mirror(local, upstream, allow)
        return Result(small, large, large_mib, len(packages), sum(p.stat().st_size for p in packages), first,
                      incremental)


def table(result: Result) -> str:
    first, again = result.first, result.incremental
    mib = result.package_bytes / MiB
    lines = [
        f"Mirror between two local marketplaces: {result.small} small packages + {result.large} of "
        f"{result.large_mib} MiB ({mib:.1f} MiB), marketplace mirror --rate 0 --jobs 4",
        "",
        "| run | seconds | published | present | packages/s | MiB/s | upstream requests | MiB downloaded |",
        "|---|---|---|---|---|---|---|---|",
        f"| first | {first.seconds:.2f} | {first.published} | {first.present} | "
        f"{first.published / first.seconds:.1f} | {first.bytes / MiB / first.seconds:.2f} | {first.requests} | "
        f"{first.bytes / MiB:.1f} |",
        f"| incremental | {again.seconds:.2f} | {again.published} | {again.present} | - | - | {again.requests} | "
        f"{again.bytes / MiB:.1f} |",
        "",
        f"Goal: the incremental run makes one metadata request per wanted extension ({result.extensions}) and "
        f"downloads nothing: {'met' if result.ok else 'MISSED'} ({again.requests} requests, {again.bytes} bytes).",
    ]
    return "\n".join(lines)
