"""PPO prompt-LM: the clipped objective by hand, learning on a tiny random model, checkpoints, runs."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from promptflux import recipe
from promptflux.errors import ConfigError
from promptflux.evaluation import Budget, Evaluator, OutputCache
from promptflux.models.base import LanguageModel
from promptflux.models.tiny import tiny_random_model
from promptflux.optimizers.gflowpo import PromptPolicy
from promptflux.optimizers.ppo import (
    PPOConfig,
    PPOMethod,
    RewardBaseline,
    clipped_surrogate,
    kl_shaped_rewards,
)
from promptflux.optimizers.registry import get_method
from promptflux.runs import read_events
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult
from tests.helpers import POSITIVE, toy_sentiment_task
from tests.optimizers.fakes import review_task_spec, run_quick

CONFIG = dict(steps=4, samples_per_step=6, micro_batch_size=4, max_new_tokens=8, ppo_epochs=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny forwards are faster on one thread; restore the setting for the tests that follow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------- objective


def grads(log_q: list[float], advantages: list[float], clip: float = 0.2) -> tuple[float, list[float]]:
    """(loss, d loss / d log_q) of the clipped surrogate, with old log q = 0 (so ratio = exp(log_q))."""
    x = torch.tensor(log_q, requires_grad=True)
    terms = clipped_surrogate(x, torch.zeros(len(log_q)), torch.tensor(advantages), clip)
    terms.loss.backward()
    assert x.grad is not None
    return terms.loss.item(), x.grad.tolist()


def test_the_clipped_surrogate_matches_a_hand_computation():
    # ratios 1.5, 0.5, 1.1 with A = 1, -2, 0.5 and eps 0.2:
    #   min(1.5, 1.2) = 1.2;  min(-1.0, 0.8 * -2 = -1.6) = -1.6;  min(0.55, 0.55) = 0.55
    log_q = [math.log(1.5), math.log(0.5), math.log(1.1)]
    terms = clipped_surrogate(torch.tensor(log_q), torch.zeros(3), torch.tensor([1.0, -2.0, 0.5]), 0.2)
    assert terms.loss.item() == pytest.approx(-(1.2 - 1.6 + 0.55) / 3)
    assert terms.clipped.tolist() == [True, True, False] and terms.clip_fraction == pytest.approx(2 / 3)
    assert terms.ratio.tolist() == pytest.approx([1.5, 0.5, 1.1])
    # Only the unclipped entry has a gradient: d(-rho A / 3) / d log q = -rho A / 3.
    _, g = grads(log_q, [1.0, -2.0, 0.5])
    assert g == pytest.approx([0.0, 0.0, -1.1 * 0.5 / 3])


@pytest.mark.parametrize(
    ("ratio", "advantage", "vanishes"),
    [
        (1.5, 1.0, True),  # A > 0 and rho > 1 + eps: already pushed up enough
        (1.1, 1.0, False),
        (0.5, 1.0, False),  # A > 0 with rho below the clip: still pushed up
        (0.5, -1.0, True),  # A < 0 and rho < 1 - eps: already pushed down enough
        (0.9, -1.0, False),
        (1.5, -1.0, False),  # A < 0 with rho above the clip: still pushed down
    ],
)
def test_the_gradient_vanishes_exactly_past_the_clip_in_the_advantage_direction(ratio, advantage, vanishes):
    _, (g,) = grads([math.log(ratio)], [advantage])
    if vanishes:
        assert g == 0.0
    else:
        assert g == pytest.approx(-ratio * advantage)  # descent raises log q iff A > 0


def test_the_kl_penalty_lowers_the_reward_of_prompts_the_policy_prefers_over_the_anchor():
    rewards = torch.tensor([1.0, 0.0, 0.5])
    log_q = torch.tensor([-2.0, -5.0, -3.0])
    log_prior = torch.tensor([-3.0, -4.0, -3.0])  # log q - log p_ref = 1, -1, 0
    shaped = kl_shaped_rewards(rewards, log_q, log_prior, 0.5)
    assert shaped.tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert kl_shaped_rewards(rewards, log_q, log_prior, 0.0).tolist() == rewards.tolist()
    with pytest.raises(ValueError, match="kl_coef"):
        kl_shaped_rewards(rewards, log_q, log_prior, -1.0)


def test_baselines_batch_mean_and_ema():
    batch = RewardBaseline("batch_mean")
    assert batch.advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), normalize=True).tolist() == [1, -1, -1, 1]
    assert batch.advantages(torch.tensor([1.0, 0.0]), normalize=False).tolist() == [0.5, -0.5]
    assert batch.advantages(torch.tensor([1.0, 1.0]), normalize=True).tolist() == [0.0, 0.0]  # std 0
    ema = RewardBaseline("ema", decay=0.5)
    assert ema.advantages(torch.tensor([1.0, 1.0]), normalize=False).tolist() == [0.0, 0.0]  # starts at mean
    assert ema.value == 1.0
    # The baseline is the EMA *before* this batch; then the EMA moves halfway to the batch mean.
    assert ema.advantages(torch.tensor([0.0, 0.0]), normalize=False).tolist() == [-1.0, -1.0]
    assert ema.value == 0.5


def test_config_presets_validation_and_registration():
    quick, default = PPOConfig.quick(), PPOConfig()
    assert (quick.steps, quick.samples_per_step, quick.max_new_tokens) == (12, 4, 48)
    assert (default.temperature, default.top_p) == (1.0, 1.0)  # on-policy sampling
    assert (quick.lr, quick.clip_range, quick.kl_coef, quick.ppo_epochs) == (1e-4, 0.2, 0.05, 4)
    assert default.lora_settings() == PPOConfig.model_validate({}).lora_settings()
    assert (default.lora_r, default.lora_alpha, default.lora_dropout) == (16, 32, 0.05)
    with pytest.raises(ConfigError, match="batch_mean"):
        PPOConfig.from_preset("quick", samples_per_step=1)
    assert PPOConfig.from_preset("quick", samples_per_step=1, baseline="ema").samples_per_step == 1
    with pytest.raises(ConfigError, match="unknown key"):
        PPOConfig.from_preset("default", epochs=3)
    method = get_method("ppo")
    assert method.config is PPOConfig and method.uses == frozenset({"prompt_lm"})


# ---------------------------------------------------------------------------------------------- trainer


class CrcTarget(LanguageModel):
    """Gets every review right when the instruction's CRC32 is even and every one wrong otherwise, so each
    prompt has training accuracy exactly 1 or 0: a reward that some random samples earn and others not."""

    name = "crc"

    def fingerprint(self) -> str:
        return "crc-target"

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        raise NotImplementedError

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out = []
        for r in requests:
            instruction = r.context.split("Review:")[0].strip()
            right = zlib.crc32(instruction.encode()) % 2 == 0
            says_positive = right == any(text in r.context for text in POSITIVE)
            out.append(ScoreResult((-1.0, -0.5) if says_positive else (-0.5, -1.0), prompt_tokens=5))
        return out


def make_trainer(seed: int = 0, **overrides) -> PPOMethod:
    task = toy_sentiment_task()
    lm = tiny_random_model(seed=seed)
    config = PPOConfig.from_preset("default", **{**CONFIG, "seed": seed, **overrides})
    budget = Budget()
    train, pool = task.split("train")[:4], task.split("train")[4:]
    return PPOMethod(
        config,
        PromptPolicy(lm, config.lora_settings(), init_seed=config.seed),
        Evaluator(task, CrcTarget(), budget=budget),
        train=train,
        demo_pool=pool,
        budget=budget,
    )


def record_steps(trainer: PPOMethod) -> list[tuple]:
    """Wraps the trainer so each step's (meta-prompt, draw) is kept for inspection."""
    seen: list = []
    build, draw = trainer.builder.build, trainer.drawer.draw

    def recording_build(rng, **kw):
        seen.append([build(rng, **kw)])
        return seen[-1][0]

    def recording_draw(*args, **kw):
        result = draw(*args, **kw)
        seen[-1].append(result)
        return result

    trainer.builder.build = recording_build  # type: ignore[method-assign]
    trainer.drawer.draw = recording_draw  # type: ignore[method-assign]
    return seen


def test_a_step_charges_the_budget_as_gflowpo_does_and_changes_the_adapter():
    trainer = make_trainer()
    seen = record_steps(trainer)
    before = {k: v.clone() for k, v in trainer.policy.adapter_state().items()}
    summaries = [trainer.step(step) for step in range(2)]
    samples = [s for _, draw in seen for s in draw.samples]
    used = trainer.budget.used
    assert used["optimizer"].calls == 2 * 6 == len(samples)  # one call per sampled prompt
    assert used["optimizer"].completion_tokens == sum(len(s.token_ids) for s in samples)
    distinct = {s.text for s in samples if s.text}
    assert used["target"].calls == 4 * len(distinct)  # each new prompt once on the 4 training examples
    for summary in summaries:
        assert {"loss", "kl", "clip_fraction", "grad_norm", "mean_reward", "new_prompts"} <= set(summary)
        assert summary["best_train_acc"] in (0.0, 1.0)
    assert summaries[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # an untrained adapter is the base model
    changed = [k for k, v in trainer.policy.adapter_state().items() if not torch.equal(before[k], v)]
    assert changed  # the LoRA weights moved
    assert trainer.baselines() == {"initial sample": next(s.text for s in samples if s.text)}
    ranked = trainer.candidates()
    assert ranked and [trainer.scored[p] for p in ranked] == sorted(trainer.scored.values(), reverse=True)


def test_updates_raise_the_log_q_of_rewarded_prompts_relative_to_unrewarded_ones():
    trainer = make_trainer(samples_per_step=8, ppo_epochs=6, lr=1e-2, kl_coef=0.0, lora_dropout=0.0)
    seen = record_steps(trainer)
    trainer.step(0)
    ((meta, draw),) = seen
    batch = [s for s in draw.samples if s.token_ids]
    rewards = [trainer.scored[s.text] if s.text else 0.0 for s in batch]
    assert 0 < sum(rewards) < len(rewards)  # the seed gives both rewarded and unrewarded samples
    ids = [s.token_ids for s in batch]
    with torch.no_grad():
        after = trainer.policy.log_q(meta, ids, train_mode=False)
        base = trainer.policy.log_prior(meta, ids)  # = log q before the step (the adapter was the identity)
    delta = (after - base).tolist()
    up = [d for d, r in zip(delta, rewards) if r == 1.0]
    down = [d for d, r in zip(delta, rewards) if r == 0.0]
    assert min(up) > max(down)  # every rewarded prompt gained on every unrewarded one
    assert sum(up) / len(up) > 0 > sum(down) / len(down)


def test_state_round_trip_reproduces_the_next_step():
    a = make_trainer(kl_coef=0.1, baseline="ema")
    for step in range(2):
        a.step(step)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)  # what the run folder's checkpoint does
    buffer.seek(0)
    b = make_trainer(kl_coef=0.1, baseline="ema")
    b.load_state_dict(torch.load(buffer, weights_only=False))
    sa, sb = a.step(2), b.step(2)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key] == pytest.approx(sb[key], rel=1e-5, abs=1e-7), key
    assert a.baseline.value == pytest.approx(b.baseline.value)
    for k, v in a.policy.adapter_state().items():
        assert torch.allclose(v, b.policy.adapter_state()[k], atol=1e-7), k
    assert a.candidates() == b.candidates() and a.baselines() == b.baselines()


def test_unusable_samples_are_kept_with_reward_zero(monkeypatch):
    trainer = make_trainer()
    seen = record_steps(trainer)
    real_sample = trainer.policy.sample

    def some_empty(*args, **kw):  # every other sample has no instruction
        samples = real_sample(*args, **kw)
        return [s if i % 2 else dataclasses.replace(s, text=None) for i, s in enumerate(samples)]

    monkeypatch.setattr(trainer.policy, "sample", some_empty)
    summary = trainer.step(0)
    ((_, draw),) = seen
    assert summary["unusable"] == 3 and trainer.budget.used["optimizer"].calls == 6
    usable_rewards = [trainer.scored[s.text] for s in draw.samples if s.text]
    assert summary["mean_reward"] == pytest.approx(sum(usable_rewards) / 6)  # 3 zeros in the mean


# ---------------------------------------------------------------------------------------------- runs


def test_a_run_through_the_recipe_ends_with_a_result(tmp_path, monkeypatch):
    result = run_quick("ppo", "tiny-random", tmp_path, monkeypatch, [], steps=3, max_new_tokens=12)
    assert result["method"] == "ppo" and result["stopped"] is None
    assert {"chosen", "no instruction"} <= set(result["prompts"])
    assert result["budget"]["optimizer_calls"] == 3 * 4
    events = tmp_path / "run" / "events.jsonl"
    assert [e["step"] for e in read_events(events, kind="ppo_batch")] == [0, 1, 2]
    assert all(e["split"] == "train" for e in read_events(events, kind="eval"))


class Interrupted(Exception):
    pass


def ppo_run(folder: Path, resume: bool = False) -> dict:
    spec = recipe.make_spec(
        "ppo",
        "quick",
        dict(steps=4, max_new_tokens=10, ppo_epochs=2),
        task=review_task_spec(folder),
        target="tiny-random",
        prompt_lm="tiny-random",
    )
    cache = OutputCache(folder / "cache.sqlite")
    return recipe.run(None if resume else spec, folder / "run", resume=resume, cache=cache)


def step_events(folder: Path) -> list[dict]:
    drop = ("time", "budget")
    return [
        {k: v for k, v in e.items() if k not in drop}
        for e in read_events(folder / "run" / "events.jsonl", kind="step")
    ]


def test_an_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path, monkeypatch):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir()
    killed.mkdir()
    a = ppo_run(clean)

    real_learn = PPOMethod._learn

    def crash_in_step_2(self, step, *args):  # after step 2's prompts were sampled, charged and scored
        if step == 2:
            raise Interrupted
        return real_learn(self, step, *args)

    monkeypatch.setattr(PPOMethod, "_learn", crash_in_step_2)
    with pytest.raises(Interrupted):
        ppo_run(killed)
    assert [e["step"] for e in step_events(killed)] == [0, 1]
    monkeypatch.setattr(PPOMethod, "_learn", real_learn)
    b = ppo_run(killed, resume=True)

    assert step_events(killed) == step_events(clean)  # same steps, same losses, rewards and KL
    assert a["best_prompt"] == b["best_prompt"] and a["prompts"] == b["prompts"]
    for key in ("target_calls", "target_prompt_tokens", "optimizer_calls", "selection_calls"):
        assert a["budget"][key] == b["budget"][key], key  # nothing paid twice, nothing lost
    batches = [e["step"] for e in read_events(killed / "run" / "events.jsonl", kind="ppo_batch")]
    assert batches == [0, 1, 2, 3]


@pytest.mark.slow
def test_ppo_with_the_real_embedded_model_runs_end_to_end(tmp_path):
    """SmolLM2 as prompt-LM, anchor and target through the CLI: real instructions come out, PPO updates."""
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "promptflux.cli", "optimize", "--method", "ppo",
        "--task", review_task_spec(tmp_path, "{train: 8, dev: 8, test: 10}", copies=3),
        "--preset", "quick", "--target", "smollm2", "--prompt-lm", "smollm2",
        "--cache", str(tmp_path / "c.sqlite"), "--run-dir", str(run_dir),
        "--set", "steps=3", "--set", "max_new_tokens=24",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=900)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["method"] == "ppo" and result["best_prompt"] and result["stopped"] is None
    assert set(result["prompts"]) >= {"chosen", "no instruction", "initial sample"}
    assert result["budget"]["optimizer_calls"] == 3 * 4 and result["budget"]["target_calls"] > 0
    steps = list(read_events(run_dir / "events.jsonl", kind="step"))
    assert len(steps) == 3 and all(math.isfinite(e["loss"]) for e in steps)
    assert all(0.0 <= e["clip_fraction"] <= 1.0 for e in steps)
    assert steps[0]["kl"] == pytest.approx(0.0, abs=1e-3)  # the untrained adapter samples the anchor
