"""Best of N samples from the untrained prompt-LM: what GFlowPO's training has to beat.

The same policy, meta-prompt (demonstrations resampled per step), temperatures and top-p as GFlowPO,
with the adapter never trained: every step samples `samples_per_step` prompts and scores the new ones on
the training split. Candidates are the best by training accuracy, so selection on validation works
exactly as for GFlowPO, and at equal sample counts the two differ only by the learning.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from promptflux.optimizers.components.prompt_lm import MetaPromptFields, PromptLMMethod


class SamplingConfig(MetaPromptFields):
    """Sampling knobs mirror GFlowPO's (same defaults), so both draw from the same distribution at start."""

    label: ClassVar[str] = "sampling"

    steps: int = Field(25, ge=1, description="Sampling rounds.")
    samples_per_step: int = Field(8, ge=1, description="Prompts drawn per round.")
    temperature_range: tuple[float, float] = Field((0.5, 2.0), description="Per-round temperature range.")
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_new_tokens: int = Field(150, ge=1)
    candidates: int = Field(15, ge=1, description="Best prompts by training accuracy offered to selection.")
    seed: int = 0

    @model_validator(mode="after")
    def _range(self) -> SamplingConfig:
        low, high = self.temperature_range
        if not 0.0 < low <= high:
            raise ValueError(f"temperature_range must satisfy 0 < low <= high, got {self.temperature_range}")
        return self

    @classmethod
    def presets(cls):
        return {"default": cls, "quick": lambda: cls(steps=6, samples_per_step=4, max_new_tokens=48)}


class SamplingMethod(PromptLMMethod):
    """Sample, score new prompts on the training split, keep the best (the adapter is never trained)."""

    name = "sampling"
    summary = "best of N prompts sampled from the untrained prompt-LM (GFlowPO's meta-prompt, no learning)"
    Config = SamplingConfig
    trains = False
    state = ("scored", "rng")

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        meta = self.builder.build(self.rng)
        temperature = float(self.rng.uniform(*cfg.temperature_range))
        draw = self.drawer.draw(
            meta,
            cfg.samples_per_step,
            temperature=temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            rng=self.rng,
            known=self.scored,
        )
        new = list(draw.scores)
        self.scored.update((t, r.mean) for t, r in draw.scores.items())
        accs = [self.scored[t] for t in new]
        return {
            "temperature": temperature,
            "new_prompts": len(new),
            "mean_train_acc": float(np.mean(accs)) if accs else None,
            "best_train_acc": max(self.scored.values(), default=None),
        }
