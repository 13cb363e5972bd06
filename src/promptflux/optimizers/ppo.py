"""PPO on the prompt-LM: GFlowPO's LoRA policy and meta-prompt, trained to maximise training accuracy.

StablePrompt (Kwon et al., EMNLP 2024) casts prompt search as on-policy RL between an agent LM that
writes prompts and a target LM that rewards them, and trains the agent with Adaptive PPO (APPO): PPO
whose KL penalty pulls the policy toward an *anchor* model that is itself updated adaptively along the
training trajectory, so the search can move away from the pre-trained model without collapsing.

This module is the RL counterpart of GFlowPO under identical conditions: the same `PromptPolicy`
(LoRA on the prompt-LM, frozen base = p_ref), the same meta-prompt (demonstrations redrawn per step,
no DMU references), the same budget accounting (`PromptDrawer`), and the training accuracy as the
reward, so only the objective differs. One step:

    M        = MetaPromptBuilder.build(rng)                   one meta-prompt per step
    z_1..n   ~ q_theta(. | M)                                  PromptPolicy.sample, adapter on
    r_i      = acc_train(z_i), or 0 for a sample with no usable instruction (see below)
    r~_i     = r_i - kl_coef * (log q_old(z_i) - log p_ref(z_i))          KL-shaped reward
    A_i      = (r~_i - b) [/ std(r~)]                          b: batch mean or an EMA of batch means
    ppo_epochs x:  L = mean_i -min(rho_i A_i, clip(rho_i, 1 - eps, 1 + eps) A_i),
                   rho_i = exp(log q_theta(z_i) - log q_old(z_i));  clip grad norm; AdamW step

What it does not do, compared with StablePrompt / a full RLHF PPO:

- Sequence level: one ratio, one advantage and one KL estimate per prompt (log q - log p_ref summed
  over the sampled tokens), no per-token credit assignment, no value head or GAE. A prompt's reward
  is known only once the whole prompt is written, so this is the natural bandit form.
- The anchor is the frozen base p_ref (the untrained prompt-LM) for the whole run; APPO's anchor
  updates are not implemented.
- The KL penalty is in the reward (as in RLHF PPO), not a separate loss term: with the samples held
  fixed, a loss term kl_coef * (log q - log p_ref) has gradient kl_coef * grad log q, which is zero
  in expectation under on-policy samples and would not pull the policy toward the anchor.
- Full-batch updates (`micro_batch_size` only splits the forward passes to bound memory; the gradient
  is the full batch's), a constant learning rate.

Samples without a usable instruction (empty reply, nothing after the opening quote) stay in the batch
with reward 0, the worst accuracy: the policy wrote them, so it should learn not to. Unusable samples
are not scored on the target and never become candidates.

The ratio assumes on-policy samples, so the defaults sample the untempered policy (temperature 1,
top-p 1); other values are allowed but make `log q_old` the log-probability under the untempered
policy of samples drawn from a tempered one. Old log q is computed in eval mode (no LoRA dropout),
the updates in train mode with the dropout noise drawn from a torch RNG seeded by the run's numpy
Generator, so a resumed run repeats its updates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from promptflux.optimizers.components.meta_prompt import MetaPrompt
from promptflux.optimizers.components.policy import SampledPrompt
from promptflux.optimizers.components.prompt_lm import LoraFields, PromptLMMethod
from promptflux.runs.event_types import PPOBatch

BaselineKind = Literal["batch_mean", "ema"]

UNUSABLE_REWARD = 0.0  # reward of a sample with no usable instruction


class PPOConfig(LoraFields):
    """PPO knobs. Sampling, LoRA and optimiser defaults match GFlowPO's where they mean the same thing."""

    label: ClassVar[str] = "PPO"

    steps: int = Field(150, ge=1, description="PPO iterations (one batch, one meta-prompt each).")
    samples_per_step: int = Field(
        16,
        ge=1,
        description="Prompts sampled per step. 150 x 16 ≈ the ~2400 prompts GFlowPO's default draws "
        "(99 warm-up steps x 16 + 101 training steps x 16 x online_ratio 0.5).",
    )
    micro_batch_size: int = Field(
        4, ge=1, description="Trajectories per forward/backward pass (memory only; the update is the same)."
    )
    temperature: float = Field(1.0, gt=0.0, description="Sampling temperature (1: on-policy).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus mass (1: on-policy; top-k is off).")
    max_new_tokens: int = Field(150, ge=1, description="Longest sampled instruction, in prompt-LM tokens.")

    ppo_epochs: int = Field(4, ge=1, description="Optimiser updates on each sampled batch.")
    clip_range: float = Field(0.2, gt=0.0, lt=1.0, description="PPO ratio clip epsilon.")
    kl_coef: float = Field(
        0.05, ge=0.0, description="Weight of the KL penalty to the frozen base, subtracted from the reward."
    )
    baseline: BaselineKind = Field(
        "batch_mean", description="batch_mean: the step's mean shaped reward; ema: an EMA of batch means."
    )
    baseline_ema_decay: float = Field(0.9, ge=0.0, lt=1.0, description="Weight of the old EMA value.")
    normalize_advantages: bool = Field(True, description="Divide advantages by the batch's reward std.")

    lr: float = Field(1e-4, gt=0.0, description="Learning rate of the LoRA parameters (constant).")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Gradient-norm clip per update.")

    candidates: int = Field(15, ge=1, description="Best prompts by training accuracy offered to selection.")
    seed: int = Field(0, description="Seeds the run's numpy Generator, the LoRA init and torch sampling.")

    @model_validator(mode="after")
    def _baseline_needs_a_batch(self) -> PPOConfig:
        if self.baseline == "batch_mean" and self.samples_per_step < 2:
            raise ValueError(
                "baseline batch_mean needs samples_per_step >= 2 (one sample is its own mean: every "
                "advantage would be 0); use baseline ema"
            )
        return self

    @classmethod
    def quick(cls) -> PPOConfig:
        """GFlowPO's quick scale: 12 steps of 4 prompts, short instructions; method knobs unchanged."""
        return cls(steps=12, samples_per_step=4, max_new_tokens=48)

    @classmethod
    def presets(cls):
        return {"default": cls, "quick": cls.quick}


# ---------------------------------------------------------------------------------------------- objective


@dataclass(frozen=True)
class Surrogate:
    """The clipped surrogate of one batch: the loss to minimise and what logging needs."""

    loss: torch.Tensor  # scalar, differentiable w.r.t. log_q
    ratio: torch.Tensor  # (B,) detached
    clipped: torch.Tensor  # (B,) bool: |ratio - 1| > clip_range

    @property
    def clip_fraction(self) -> float:
        return self.clipped.float().mean().item() if self.clipped.numel() else 0.0


def clipped_surrogate(
    log_q: torch.Tensor, old_log_q: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> Surrogate:
    """PPO's loss, mean over the batch of -min(rho A, clip(rho, 1 - eps, 1 + eps) A), rho = q / q_old.

    Sequence-level: each entry is one whole trajectory. `old_log_q` and `advantages` are constants.
    The gradient of an entry vanishes once its ratio has moved past the clip in the advantage's
    direction (rho > 1 + eps for A > 0, rho < 1 - eps for A < 0).
    """
    if not log_q.shape == old_log_q.shape == advantages.shape:
        raise ValueError(
            f"shapes differ: log_q {tuple(log_q.shape)}, old_log_q {tuple(old_log_q.shape)}, "
            f"advantages {tuple(advantages.shape)}"
        )
    if not 0.0 < clip_range < 1.0:
        raise ValueError(f"clip_range must lie in (0, 1), got {clip_range}")
    adv = advantages.detach()
    ratio = torch.exp(log_q - old_log_q.detach())
    clipped_ratio = ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    loss = -torch.minimum(ratio * adv, clipped_ratio * adv).mean()
    return Surrogate(loss, ratio.detach(), (ratio.detach() - 1.0).abs() > clip_range)


def kl_shaped_rewards(
    rewards: torch.Tensor, log_q: torch.Tensor, log_prior: torch.Tensor, kl_coef: float
) -> torch.Tensor:
    """r - kl_coef * (log q - log p_ref): the per-sample KL estimate to the anchor, charged to the reward.

    A prompt the policy likes more than the anchor does (log q > log p_ref) is penalised; one it likes
    less gets a bonus. Its expectation under q is E[r] - kl_coef * KL(q || p_ref).
    """
    if kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
    return rewards - kl_coef * (log_q.detach() - log_prior.detach())


class RewardBaseline:
    """Turns (shaped) rewards into advantages: minus a baseline, optionally over the batch std."""

    def __init__(self, kind: BaselineKind, decay: float = 0.9) -> None:
        self.kind = kind
        self.decay = decay
        self.value: float | None = None  # the EMA (kind "ema"); the last batch mean otherwise

    def advantages(self, rewards: torch.Tensor, normalize: bool) -> torch.Tensor:
        """rewards - baseline (the EMA before this batch for "ema"), over the batch std if `normalize`."""
        mean = rewards.mean().item()
        if self.kind == "batch_mean" or self.value is None:
            base = self.value = mean
        else:
            base = self.value
            self.value = self.decay * self.value + (1.0 - self.decay) * mean
        adv = rewards - base
        if normalize and rewards.numel() > 1:
            std = rewards.std(correction=0).item()
            if std > 1e-8:
                adv = adv / std
        return adv


# ---------------------------------------------------------------------------------------------- trainer


class PPOMethod(PromptLMMethod):
    """Sample a batch, score it, `ppo_epochs` clipped-surrogate updates of the adapter."""

    name = "ppo"
    summary = (
        "PPO-trained LoRA prompt-LM, StablePrompt-style (GFlowPO's policy and meta-prompt, RL objective)"
    )
    Config = PPOConfig
    state = ("scored", "rng")

    def __init__(self, config: PPOConfig, *args: Any, **kwargs: Any) -> None:
        """The parts of every prompt-LM method (PromptLMMethod), then this method's own."""
        super().__init__(config, *args, **kwargs)
        self.adamw = torch.optim.AdamW(
            self.policy.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.baseline = RewardBaseline(config.baseline, config.baseline_ema_decay)

    def step(self, step: int) -> dict[str, Any]:
        """One batch and its updates. Summary: loss, kl (mean log q_old - log p_ref), clip_fraction and
        grad_norm (means over the epochs), mean_reward (unusable samples count as 0), new_prompts
        (texts never scored before), unusable, mean_train_acc (usable samples), best_train_acc (so far).
        """
        cfg, policy = self.config, self.policy
        meta = self.builder.build(self.rng)
        torch_seed = int(self.rng.integers(2**62))  # LoRA dropout noise, reproducible on resume
        with torch.random.fork_rng(devices=policy.lm.rng_devices):
            torch.manual_seed(torch_seed)
            draw = self.drawer.draw(
                meta,
                cfg.samples_per_step,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                max_new_tokens=cfg.max_new_tokens,
                rng=self.rng,
            )
            new = [t for t in draw.scores if t not in self.scored]
            self.scored.update((t, r.mean) for t, r in draw.scores.items())
            batch = [s for s in draw.samples if s.token_ids]
            rewards = [self.scored[s.text] if s.text else UNUSABLE_REWARD for s in batch]
            summary: dict[str, Any] = {
                "new_prompts": len(new),
                "unusable": sum(1 for s in draw.samples if not s.text),
                "mean_reward": float(np.mean(rewards)) if rewards else None,
            }
            if batch:
                summary.update(self._learn(step, meta, batch, rewards))
        accs = [self.scored[s.text] for s in draw.samples if s.text]
        summary["mean_train_acc"] = float(np.mean(accs)) if accs else None
        summary["best_train_acc"] = max(self.scored.values(), default=None)
        return summary

    def _learn(
        self, step: int, meta: MetaPrompt, batch: list[SampledPrompt], rewards: list[float]
    ) -> dict[str, Any]:
        cfg, policy = self.config, self.policy
        ids = [s.token_ids for s in batch]
        with torch.no_grad():
            chunks = self._chunks(ids)
            old_log_q = torch.cat([policy.log_q(meta, c, train_mode=False) for c in chunks])
            log_prior = torch.cat([policy.log_prior(meta, c) for c in chunks])
        r = torch.tensor(rewards, dtype=old_log_q.dtype, device=old_log_q.device)
        shaped = kl_shaped_rewards(r, old_log_q, log_prior, cfg.kl_coef)
        adv = self.baseline.advantages(shaped, cfg.normalize_advantages)
        epochs = [self._update(meta, ids, old_log_q, adv) for _ in range(cfg.ppo_epochs)]
        kl = (old_log_q - log_prior).mean().item()
        self.emit(
            PPOBatch(
                step=step,
                meta_prompt=meta.to_event(),
                prompts=[s.text for s in batch],
                reward=rewards,
                log_q_old=old_log_q.tolist(),
                log_prior=log_prior.tolist(),
                advantage=adv.tolist(),
                baseline=self.baseline.value,
                epochs=epochs,
                budget=self.budget.snapshot(),
            )
        )
        return {
            "loss": float(np.mean([e["loss"] for e in epochs])),
            "kl": kl,
            "clip_fraction": float(np.mean([e["clip_fraction"] for e in epochs])),
            "grad_norm": float(np.mean([e["grad_norm"] for e in epochs])),
        }

    def _update(
        self, meta: MetaPrompt, ids: list[tuple[int, ...]], old_log_q: torch.Tensor, adv: torch.Tensor
    ) -> dict[str, float]:
        """One optimiser step on the whole batch (gradients accumulated over micro-batches)."""
        cfg, n = self.config, len(ids)
        self.adamw.zero_grad(set_to_none=True)
        loss, clipped, start = 0.0, 0.0, 0
        for chunk in self._chunks(ids):
            part = slice(start, start + len(chunk))
            start += len(chunk)
            log_q = self.policy.log_q(meta, chunk)  # train mode: LoRA dropout from the seeded RNG
            terms = clipped_surrogate(log_q, old_log_q[part], adv[part], cfg.clip_range)
            (terms.loss * (len(chunk) / n)).backward()
            loss += terms.loss.item() * len(chunk) / n
            clipped += terms.clipped.sum().item()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.adamw.step()
        self.adamw.zero_grad(set_to_none=True)
        return {"loss": loss, "clip_fraction": clipped / n, "grad_norm": float(grad_norm)}

    def _chunks(self, ids: list[tuple[int, ...]]) -> list[list[tuple[int, ...]]]:
        size = self.config.micro_batch_size
        return [ids[i : i + size] for i in range(0, len(ids), size)]

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "optimizer": self.adamw.state_dict(), "baseline": self.baseline.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.adamw.load_state_dict(state["optimizer"])
        self.baseline.value = state["baseline"]
