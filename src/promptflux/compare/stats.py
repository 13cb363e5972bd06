"""Mean and 95% interval over seeds: few values, so Student's t, not the normal approximation."""

from __future__ import annotations

import math
from collections.abc import Sequence

from promptflux.evaluation.stats import Z95

# Two-sided 95% quantiles t(0.975, df) for df = 1..30.
_T975 = (
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252,
    2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830, 2.160368656, 2.144786688,
    2.131449546, 2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447, 2.079613845,
    2.073873068, 2.068657610, 2.063898562, 2.059538553, 2.055529439, 2.051830516, 2.048407142,
    2.045229642, 2.042272456,
)  # fmt: skip


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (Cornish-Fisher beyond the table)."""
    if df < 1:
        raise ValueError("t975 needs df >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = Z95, float(df)  # Abramowitz & Stegun 26.7.5: error far below 1e-6 for df > 30
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


def mean_t_ci95(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% t interval); the half-width is None for fewer than 2 values."""
    n = len(values)
    if n == 0:
        return float("nan"), None
    mean = sum(values) / n
    if n == 1:
        return mean, None
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1))
    return mean, t975(n - 1) * sd / math.sqrt(n)
