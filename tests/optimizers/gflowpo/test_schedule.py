"""LR schedule: a real warm-up, then a decay that spans exactly the training updates."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.schedule import config_lr_lambda, lr_multiplier


def test_warmup_is_linear_and_starts_above_zero():
    assert [lr_multiplier(u, 10, 4, "warmup_cosine") for u in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_multiplier(4, 10, 4, "warmup_cosine") == 1.0


@pytest.mark.parametrize("kind", ["warmup_cosine", "warmup_linear"])
def test_decay_is_monotone_and_ends_near_the_floor(kind):
    values = [lr_multiplier(u, 20, 2, kind, min_ratio=0.1) for u in range(20)]
    after = values[2:]
    assert all(a >= b for a, b in pairwise(after))
    assert after[-1] < 0.2 and lr_multiplier(20, 20, 2, kind, min_ratio=0.1) == pytest.approx(0.1)


def test_cosine_midpoint_and_constant():
    assert lr_multiplier(5, 10, 0, "warmup_cosine") == pytest.approx(0.5)
    assert lr_multiplier(5, 10, 0, "warmup_linear") == pytest.approx(0.5)
    assert lr_multiplier(9, 10, 2, "constant") == 1.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        lr_multiplier(0, 0, 0, "warmup_cosine")
    with pytest.raises(ValueError):
        lr_multiplier(0, 5, 6, "warmup_cosine")


def test_lambda_lr_over_the_reference_training_updates_warms_up_and_decays():
    """Unlike the reference (scheduler sized for 800, stepped ~100 times), the LR comes back down."""
    config = GFlowPOConfig()
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, config_lr_lambda(config))
    lrs = []
    for _ in range(config.training_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(config.lr / config.lr_warmup_updates)
    assert max(lrs) == pytest.approx(config.lr)
    assert lrs[-1] < 0.01 * config.lr
    assert math.isclose(lrs[config.lr_warmup_updates - 1], config.lr)
