"""Learning-rate multiplier over the *training* updates: linear warm-up, then decay to `min_ratio`.

Why a function of our own instead of a transformers scheduler: the schedule must span exactly the
updates that happen. The reference sized its scheduler for steps x accumulation = 800 "steps" but
stepped it once per update (~100 times), so the LR only ever ramped up. Here `total` is the number of
optimiser updates (`GFlowPOConfig.training_steps`) and `update` counts them from 0.

Use with `torch.optim.lr_scheduler.LambdaLR(optimizer, config_lr_lambda(config))`, stepped once per
update; LambdaLR evaluates the multiplier at update 0 for the first step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from promptflux.optimizers.gflowpo.config import GFlowPOConfig, LRSchedule


def lr_multiplier(update: int, total: int, warmup: int, kind: LRSchedule, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak LR for 0-based `update` out of `total` updates.

    Warm-up: (update + 1) / warmup, so the first update already moves (a zero-LR step would be wasted).
    Decay: from 1 at the end of warm-up towards `min_ratio`, reached at update == total.
    """
    if total < 1 or not 0 <= warmup <= total:
        raise ValueError(f"need total >= 1 and 0 <= warmup <= total, got total={total}, warmup={warmup}")
    if update < warmup:
        return (update + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (update - warmup) / max(1, total - warmup))
    if kind == "warmup_cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif kind == "warmup_linear":
        shape = 1.0 - progress
    else:
        raise ValueError(f"unknown LR schedule {kind!r}")
    return min_ratio + (1.0 - min_ratio) * shape


def config_lr_lambda(config: GFlowPOConfig) -> Callable[[int], float]:
    """The multiplier function for `LambdaLR`, bound to a config's schedule and training length."""
    total, warmup = config.training_steps, config.lr_warmup_updates
    kind, floor = config.lr_schedule, config.lr_min_ratio

    def multiplier(update: int) -> float:
        return lr_multiplier(update, total, warmup, kind, floor)

    return multiplier
