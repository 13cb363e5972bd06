"""The edit limit: GPO's learning rate, a cap on how many words one step may change in the prompt.

With t the 0-based step, T the total steps, init = `limit_init`, final = `resolved_limit_final`:

    none     no limit (None)
    fixed    init
    linear   final + (init - final) * (1 - t / T)
    cosine   final + (init - final) * 1/2 * (1 + cos(pi * t / T))

With W = `warmup_steps` > 0, steps t < W ramp linearly from final up to init,

    warmup   final + (init - final) * t / W

and the decay above then runs over the remaining steps with t' = t - W and T' = T - W (for "fixed",
init). Decays divide by T, not T - 1, so the last step's limit is close to, not equal to, final (the
paper's formula). The result is rounded half up to an int and is never below 1.
"""

from __future__ import annotations

import math

from promptflux.optimizers.gpo.config import GPOConfig


def edit_limit(step: int, total: int, config: GPOConfig) -> int | None:
    """Words the optimiser may change at `step` of `total` (0-based), or None when there is no limit."""
    if total < 1:
        raise ValueError(f"total steps must be at least 1, got {total}")
    if not 0 <= step < total:
        raise ValueError(f"step {step} is outside 0..{total - 1}")
    if config.schedule == "none":
        return None
    warmup = config.warmup_steps
    if warmup >= total:
        raise ValueError(f"warmup_steps ({warmup}) must be smaller than the total steps ({total})")
    init, final = config.limit_init, config.resolved_limit_final
    if step < warmup:
        fraction = step / warmup  # share of the way from final up to init
    else:
        fraction = _decay_fraction(config.schedule, step - warmup, total - warmup)
    return max(1, math.floor(final + (init - final) * fraction + 0.5))


def _decay_fraction(schedule: str, t: int, total: int) -> float:
    """Where step t of a decay over `total` steps sits between final (0.0) and init (1.0)."""
    if schedule == "fixed":
        return 1.0
    if schedule == "linear":
        return 1.0 - t / total
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t / total))
    raise ValueError(f"unknown edit-limit schedule {schedule!r}")
