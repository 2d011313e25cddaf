"""The one percentile rule every benchmark table uses: the sample at rank ``fraction x n`` of the sorted samples
(the largest for 1.0), with no interpolation, so a reported P95 is a latency that was measured."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(samples: Iterable[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
