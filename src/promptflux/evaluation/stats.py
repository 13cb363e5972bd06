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


# ---------------------------------------------------------------------------------- paired tests
# Racing (racing.py) asks, after each block: is candidate X worse than the best on the examples both
# were scored on? These are the one-sided p-values of H0 "mean(best - X) <= 0", computed here without
# scipy (its Student-t survival function matches these to ~1e-12; a test checks it).


def sign_test_p(diffs: Sequence[float]) -> float:
    """Exact one-sided sign test: P(at least this many wins | wins and losses equally likely); ties
    (differences of 0) are left out. 1.0 when every difference is a tie."""
    wins = sum(1 for d in diffs if d > 0)
    trials = wins + sum(1 for d in diffs if d < 0)
    if trials == 0:
        return 1.0
    return sum(math.comb(trials, i) for i in range(wins, trials + 1)) / 2**trials


def paired_t_p(diffs: Sequence[float]) -> float:
    """One-sided paired t-test on `diffs`, df = n - 1. When every difference is equal the t statistic is
    undefined (zero variance, common with 0/1 scores): the exact sign test decides instead."""
    n = len(diffs)
    if n < 2:
        return 1.0
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    if var <= 1e-24:
        return sign_test_p(diffs)
    return student_t_sf(mean / math.sqrt(var / n), n - 1)


def student_t_sf(t: float, df: float) -> float:
    """P(T >= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * _beta_inc(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def _beta_inc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes 6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        for aa in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h
