"""Ingest cost of a large package, as a ratio to the least any ingest must do with it.

The floor is one streaming SHA-256 pass over the file plus one inflate of every entry. The ingest is
what the ingest function does with the downloaded file before its few small storage writes: validate
the archive (one streaming pass that also computes the SHA-256), read and check the manifests and
metadata, and prepare the asset bodies to extract. The S3 transfer and the handful of constant-size
S3 and DynamoDB requests are excluded (they do not depend on the package's content). Both are timed in
the same run, alternating, best of N; peak Python heap is measured for two package sizes to show it does
not grow with the package.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
import tracemalloc
import zipfile
from dataclasses import dataclass
from pathlib import Path

from marketplace.publishing import manifest, vsix
from tests import vsix_factory

BUDGET_RATIO = 1.5
MiB = 1024 * 1024


def build_package(path: Path, megabytes: int) -> Path:
    """A vsce-like package of about ``megabytes`` on disk: mostly incompressible bytes (bundled assets),
    plus text-like files that deflate well (bundled JavaScript), about a tenth of the package."""
    rng = random.Random(7)
    files: dict[str, bytes] = {}
    text_files = max(1, megabytes // 5)
    for index in range(text_files):
        words = [rng.choice(("const", "let", "function", "return", "value", "=>", "{", "}", "x", "y"))
                 for _ in range(400_000)]
        files[f"extension/dist/chunk-{index}.js"] = " ".join(words).encode()
    for index in range(max(1, megabytes + 2 - text_files // 2)):
        files[f"extension/media/blob-{index}.bin"] = os.urandom(MiB)
    return vsix_factory.build_vsix(path, extra_files=files, icon=True)


def floor(path: Path) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                while member.read(MiB):
                    pass


def ingest(path: Path) -> None:
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    package = manifest.read_package(archive)
    assert archive.sha256 and package.asset_bytes


def _best(function: object, path: Path, rounds: int) -> float:
    assert callable(function)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function(path)
        times.append(time.perf_counter() - started)
    return min(times)


def _peak(path: Path) -> int:
    tracemalloc.start()
    try:
        ingest(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@dataclass(frozen=True)
class Result:
    size_mib: float
    floor_ms: float
    ingest_ms: float
    peak_small_mib: float
    peak_large_mib: float

    @property
    def ratio(self) -> float:
        return self.ingest_ms / self.floor_ms

    @property
    def ok(self) -> bool:
        return self.ratio <= BUDGET_RATIO and self.peak_large_mib <= self.peak_small_mib * 1.5 + 1


def measure(megabytes: int = 50, rounds: int = 5) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        large = build_package(Path(folder) / "large.vsix", megabytes)
        small = build_package(Path(folder) / "small.vsix", max(1, megabytes // 5))
        floor(large)
        ingest(large)  # warm the page cache and imports
        floors, ingests = [], []
        for _ in range(rounds):  # alternate, so noise hits both alike
            floors.append(_best(floor, large, 1))
            ingests.append(_best(ingest, large, 1))
        return Result(large.stat().st_size / MiB, min(floors) * 1000, min(ingests) * 1000,
                      _peak(small) / MiB, _peak(large) / MiB)


def table(result: Result) -> str:
    return "\n".join([
        f"Ingest of a {result.size_mib:.0f} MiB package vs one SHA-256 pass + one inflate of every entry "
        f"(budget {BUDGET_RATIO}x; best of 5)",
        f"| {'floor ms':>8} | {'ingest ms':>9} | {'ratio':>5} | {'peak heap, 1/5 size':>19} | {'peak heap, full':>15} "
        f"| ok  |",
        f"|{'-' * 10}|{'-' * 11}|{'-' * 7}|{'-' * 21}|{'-' * 17}|-----|",
        f"| {result.floor_ms:>8.0f} | {result.ingest_ms:>9.0f} | {result.ratio:>5.2f} | "
        f"{result.peak_small_mib:>15.1f} MiB | {result.peak_large_mib:>11.1f} MiB | "
        f"{'yes' if result.ok else 'NO':<3} |",
    ])
