"""Confidence intervals for per-example scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054


def mean_ci95(scores: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high). Wilson interval for 0/1 scores (sound near 0 and 1), normal otherwise."""
    n = len(scores)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = sum(scores) / n
    if all(s in (0.0, 1.0) for s in scores):
        denom = 1 + Z95**2 / n
        centre = (mean + Z95**2 / (2 * n)) / denom
        half = Z95 * math.sqrt(mean * (1 - mean) / n + Z95**2 / (4 * n * n)) / denom
        return mean, max(0.0, centre - half), min(1.0, centre + half)
    if n == 1:
        return mean, float("nan"), float("nan")
    var = sum((s - mean) ** 2 for s in scores) / (n - 1)
    half = Z95 * math.sqrt(var / n)
    return mean, mean - half, mean + half
