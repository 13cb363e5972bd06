"""Reward and trajectory balance: hand-computed values, where gradients flow, log Z estimators."""

from __future__ import annotations

import json
import math

import pytest
import torch

from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.objective import (
    LearnedLogZ,
    VarGradEMA,
    log_reward,
    make_log_z,
    trajectory_balance_loss,
    vargrad_estimate,
)


def test_log_reward_by_hand():
    log_prior = torch.tensor([-10.0, -20.0])
    got = log_reward(log_prior, [0.5, 1.0], gamma=2.0, beta=0.25, eps=1e-8)
    want = [-5.0 + 4 * math.log(0.5 + 1e-8), -10.0 + 4 * math.log(1.0 + 1e-8)]
    assert got.tolist() == pytest.approx(want)


def test_zero_accuracy_gives_a_finite_very_low_reward():
    value = log_reward(torch.tensor([0.0]), [0.0], beta=1 / 32).item()
    assert value == pytest.approx(32 * math.log(1e-8))


def test_accuracy_outside_unit_interval_raises():
    with pytest.raises(ValueError, match="accuracy"):
        log_reward(torch.tensor([0.0]), [1.5])


def test_tb_loss_by_hand():
    loss = trajectory_balance_loss(1.0, torch.tensor([-2.0, -3.0]), torch.tensor([-1.0, -1.0]))
    assert loss.item() == pytest.approx(((1 - 2 + 1) ** 2 + (1 - 3 + 1) ** 2) / 2)


def test_tb_loss_is_zero_when_q_is_proportional_to_r():
    log_r = torch.tensor([-3.0, -7.5, -1.25])
    log_z = 4.0
    log_q = log_r - log_z  # q = R / Z exactly
    assert trajectory_balance_loss(log_z, log_q, log_r).item() == pytest.approx(0.0, abs=1e-7)


def test_vargrad_first_batch_makes_the_loss_the_variance_and_only_log_q_gets_gradient():
    log_q = torch.tensor([-2.0, -4.0, -3.0], requires_grad=True)
    log_r = torch.tensor([-1.0, -1.5, -0.5], requires_grad=True)  # must be treated as a constant
    estimator = VarGradEMA(0.99)
    log_z = estimator.for_batch(log_q, log_r)
    assert not log_z.requires_grad
    diff = (log_r - log_q).detach()
    assert log_z.item() == pytest.approx(diff.mean().item())
    loss = trajectory_balance_loss(log_z, log_q, log_r)
    assert loss.item() == pytest.approx(diff.var(unbiased=False).item())
    loss.backward()
    want = 2 * (log_z.item() + log_q.detach() - log_r.detach()) / 3
    assert torch.allclose(log_q.grad, want)
    assert log_r.grad is None


def test_ema_update_arithmetic():
    estimator = VarGradEMA(0.99)
    assert estimator.value is None
    assert estimator.update(10.0) == 10.0  # initialised from the first batch
    assert estimator.update(20.0) == pytest.approx(0.99 * 10.0 + 0.01 * 20.0)
    third = estimator.for_batch(torch.tensor([-1.0, -3.0]), torch.tensor([0.0, 0.0]))  # estimate = 2
    assert third.item() == pytest.approx(0.99 * (0.99 * 10.0 + 0.01 * 20.0) + 0.01 * 2.0)


def test_vargrad_state_round_trips_through_json():
    estimator = VarGradEMA(0.95)
    estimator.update(-42.5)
    restored = VarGradEMA()
    restored.load_state_dict(json.loads(json.dumps(estimator.state_dict())))
    assert (restored.value, restored.decay) == (-42.5, 0.95)
    assert restored.update(0.0) == estimator.update(0.0)
    with pytest.raises(ValueError, match="kind"):
        restored.load_state_dict(LearnedLogZ().state_dict())


def test_learned_log_z_starts_at_the_first_estimate_and_is_trained():
    log_z = LearnedLogZ(lr=0.5)
    (group,) = log_z.param_groups()
    assert group["lr"] == 0.5 and group["params"] == [log_z.param]
    opt = torch.optim.SGD(log_z.param_groups())
    log_q, log_r = torch.tensor([-5.0, -7.0]), torch.tensor([-1.0, -1.0])
    z = log_z.for_batch(log_q, log_r)
    assert z.item() == pytest.approx(vargrad_estimate(log_q, log_r)) == pytest.approx(5.0)
    loss = trajectory_balance_loss(z, log_q, log_r + 1.0)  # rewards rose by 1 nat: so must log Z
    loss.backward()
    opt.step()
    assert log_z.value == pytest.approx(6.0)  # 5 - 0.5 * 2 * (5 - 6)
    again = log_z.for_batch(log_q, log_r)  # no re-initialisation on later batches
    assert again.item() == pytest.approx(log_z.value)


def test_learned_log_z_state_round_trip_keeps_the_parameter_object():
    source = LearnedLogZ(init=3.0)
    target = LearnedLogZ()
    param = target.param
    target.load_state_dict(json.loads(json.dumps(source.state_dict())))
    assert target.param is param and target.value == 3.0


def test_make_log_z_follows_the_config():
    assert isinstance(make_log_z(GFlowPOConfig()), VarGradEMA)
    learned = make_log_z(GFlowPOConfig(log_z="learned", log_z_lr=0.05, log_z_init=-10.0))
    assert isinstance(learned, LearnedLogZ) and learned.lr == 0.05 and learned.value == -10.0
