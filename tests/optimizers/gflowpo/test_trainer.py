"""GFlowPO trainer on a tiny random model: replay is free, the adapter learns, state round-trips."""

from __future__ import annotations

import pytest
import torch

from promptflux.evaluation import Budget, Evaluator
from promptflux.evaluation.budget import BudgetLimits
from promptflux.models.hf import FrozenBase
from promptflux.models.tiny import tiny_random_model
from promptflux.optimizers.gflowpo import GFlowPOConfig, PromptPolicy
from promptflux.optimizers.gflowpo.trainer import GFlowPOMethod
from tests.helpers import toy_sentiment_task

CONFIG = dict(steps=6, warmup_steps=2, micro_batch_size=3, grad_accumulation=2, max_new_tokens=10)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny forwards are faster on one thread; restore the setting for the tests that follow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_trainer(seed: int = 0, limits: BudgetLimits | None = None, **overrides) -> GFlowPOMethod:
    task = toy_sentiment_task()
    lm = tiny_random_model(seed=seed)
    config = GFlowPOConfig.from_preset("default", **{**CONFIG, "seed": seed, **overrides})
    policy = PromptPolicy(lm, config.lora_settings())
    budget = Budget(limits or BudgetLimits())
    train, pool = task.split("train")[:4], task.split("train")[4:]
    return GFlowPOMethod(
        config,
        policy,
        Evaluator(task, FrozenBase(lm), budget=budget),
        train=train,
        demo_pool=pool,
        budget=budget,
    )


def test_warmup_fills_the_buffer_without_touching_the_adapter():
    trainer = make_trainer()
    before = {k: v.clone() for k, v in trainer.policy.adapter_state().items()}
    for step in range(2):
        summary = trainer.step(step)
        assert summary["warmup"] and "loss" not in summary
    assert len(trainer.buffer) > 0 and len(trainer.queue) > 0
    assert all(torch.equal(before[k], v) for k, v in trainer.policy.adapter_state().items())
    assert trainer.budget.used["target"].calls > 0 and trainer.budget.used["optimizer"].calls == 12


def test_replayed_prompts_cost_no_target_call_and_training_changes_the_adapter():
    trainer = make_trainer(online_ratio=0.0)  # after warm-up: replay only
    for step in range(2):
        trainer.step(step)
    calls = trainer.budget.used["target"].calls
    before = {k: v.clone() for k, v in trainer.policy.adapter_state().items()}
    summary = trainer.step(2)
    assert trainer.budget.used["target"].calls == calls  # accuracy came from the buffer
    assert summary["loss"] >= 0 and summary["lr"] > 0 and summary["log_z"] is not None
    changed = [k for k, v in trainer.policy.adapter_state().items() if not torch.equal(before[k], v)]
    assert changed  # the LoRA weights moved


def test_paced_schedule_spends_the_budget_that_coin_flips_leave():
    """online_ratio 0 is the worst coin: no fresh sample after warm-up. Paced ignores the coin and
    samples whenever the calls spent fall behind an even share of the limit, and never starts a batch
    the rest of the budget cannot pay for (that would end the run early): all 6 steps complete."""
    limit = BudgetLimits(target_calls=66)  # 5.5 calls per micro-batch, batches of 12; warm-up overspends
    coin = make_trainer(online_ratio=0.0, limits=limit)
    paced = make_trainer(online_ratio=0.0, online_schedule="paced", limits=limit)
    fresh = {
        name: [t.step(s)["new_prompts"] for s in range(6)] for name, t in (("coin", coin), ("paced", paced))
    }
    assert fresh["coin"][:2] == fresh["paced"][:2]  # the same warm-up
    assert fresh["coin"][2:] == [0, 0, 0, 0]
    assert fresh["paced"][2] == 0 and sum(fresh["paced"][3:]) > 0  # caught up first, then sampled again
    spent = {name: t.budget.used["target"].calls for name, t in (("coin", coin), ("paced", paced))}
    assert spent["coin"] < spent["paced"] <= limit.target_calls


def test_state_round_trip_reproduces_the_next_step():
    a = make_trainer()
    for step in range(3):
        a.step(step)
    state = a.state_dict()
    b = make_trainer()
    b.load_state_dict(state)
    sa, sb = a.step(3), b.step(3)
    assert sa["loss"] == pytest.approx(sb["loss"], rel=1e-5)
    assert a.buffer.state_dict() == b.buffer.state_dict()
    assert a.candidates() == b.candidates() and a.baselines() == b.baselines()
