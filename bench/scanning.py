"""What the publish-time secret scan adds to the ingest, as a ratio (goal: at most 1.3x).

The ingest is timed as ``bench.ingest`` times it (validate the archive in its streaming pass, read the
manifests; no storage calls), then the same plus ``scanning.scan`` with the secret scanner, the one scanner
whose cost grows with the package's content. Two packages: a typical one of 2 MiB and a large one of 50 MiB
(sizes of the files inside), mostly minified JavaScript in long lines, with some binaries (images, wasm,
native modules) that the scan skips. Timings alternate, best of N; the peak Python heap (tracemalloc) is
measured with and without the scan.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import ingest as ingest_bench
from marketplace.publishing import manifest, scanning, service, vsix
from marketplace.publishing.scanning.secrets import SecretScanner
from tests import scan_corpus, vsix_factory

GOAL_RATIO = 1.3
MiB = 1024 * 1024
TEXT_SHARE = 0.8  # of the package's bytes: minified JavaScript, source maps, JSON; the rest binaries
_TEXT_SIZES = (16 * 1024, 64 * 1024, 256 * 1024, MiB, 3 * MiB)  # files over 2 MiB are scanned in part
_PRINCIPAL = service.Principal("bench", "bench-token", frozenset({"somepub"}))


def build_package(path: Path, megabytes: float, seed: int = 17) -> Path:
    """A vsce-like package whose files add up to about ``megabytes``."""
    rng = random.Random(seed)
    pool = scan_corpus.minified_bundle(4 * MiB, seed=f"bench-{seed}").encode()
    files: dict[str, bytes] = {}
    total = int(megabytes * MiB)
    text = 0
    index = 0
    while text < total * TEXT_SHARE:
        size = min(rng.choice(_TEXT_SIZES), max(1024, int(total * TEXT_SHARE) - text))
        start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
        body = (pool[start:] + pool)[:size]  # a slice of the pool (wrapping), each file different
        files[f"extension/dist/chunk-{index}.js"] = f"/*! chunk {index} */".encode() + body
        text += size
        index += 1
    binary = 0
    kinds = (".wasm", ".node", ".png", ".woff2")
    while binary < total - text:
        size = min(rng.choice((32 * 1024, 256 * 1024, MiB)), max(1024, total - text - binary))
        files[f"extension/media/blob-{len(files)}{kinds[len(files) % len(kinds)]}"] = os.urandom(size)
        binary += size
    return vsix_factory.build_vsix(path, extra_files=files, icon=True)


def ingest(path: Path) -> None:
    ingest_bench.ingest(path)


def ingest_and_scan(path: Path) -> None:
    archive = vsix.inspect_archive(path, keep=manifest.wanted)
    package = manifest.read_package(archive)
    verdict = scanning.scan(scanning.Subject(archive, package, archive.sha256, _PRINCIPAL, "bench"),
                            [SecretScanner()])
    assert verdict.action == scanning.PUBLISH, verdict.reason()


def _seconds(function: Callable[[Path], None], path: Path) -> float:
    started = time.perf_counter()
    function(path)
    return time.perf_counter() - started


def _peak(function: Callable[[Path], None], path: Path) -> int:
    tracemalloc.start()
    try:
        function(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@dataclass(frozen=True)
class Row:
    size_mib: float  # of the files inside
    package_mib: float  # the .vsix on disk
    ingest_ms: float
    scanned_ms: float
    peak_mib: float
    scanned_peak_mib: float

    @property
    def ratio(self) -> float:
        return self.scanned_ms / self.ingest_ms

    @property
    def ok(self) -> bool:
        return self.ratio <= GOAL_RATIO


@dataclass(frozen=True)
class Result:
    rows: tuple[Row, ...]
    rounds: int

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)


def measure(sizes: tuple[float, ...] = (2, 50), rounds: int = 5) -> Result:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = build_package(Path(folder) / f"package-{size}.vsix", size)
            ingest_and_scan(path)  # warm the page cache and imports
            plain, scanned = [], []
            for _ in range(rounds):  # alternate, so noise hits both alike
                plain.append(_seconds(ingest, path))
                scanned.append(_seconds(ingest_and_scan, path))
            rows.append(Row(size, path.stat().st_size / MiB, min(plain) * 1000, min(scanned) * 1000,
                            _peak(ingest, path) / MiB, _peak(ingest_and_scan, path) / MiB))
            path.unlink()
    return Result(tuple(rows), rounds)


def table(result: Result) -> str:
    lines = [
        f"Ingest with and without the secret scan (goal {GOAL_RATIO}x; best of {result.rounds})",
        f"| {'files':>8} | {'.vsix':>8} | {'ingest ms':>9} | {'+ scan ms':>9} | {'ratio':>5} | {'peak heap':>10} "
        f"| {'+ scan heap':>11} | ok  |",
        f"|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 11}|{'-' * 7}|{'-' * 12}|{'-' * 13}|-----|",
    ]
    for row in result.rows:
        lines.append(
            f"| {row.size_mib:>4.1f} MiB | {row.package_mib:>4.1f} MiB | {row.ingest_ms:>9.0f} "
            f"| {row.scanned_ms:>9.0f} | {row.ratio:>5.2f} | {row.peak_mib:>6.1f} MiB "
            f"| {row.scanned_peak_mib:>7.1f} MiB | {'yes' if row.ok else 'NO':<3} |")
    return "\n".join(lines)
