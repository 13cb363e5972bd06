"""What every prompt-LM method shares: drawing scored prompts from the policy, and the LoRA knobs.

`PromptDrawer.draw` is the one sampling round of GFlowPO, PPO and untrained best-of-N sampling:

    samples = policy.sample(M, n, ...)               reproducible from the caller's numpy Generator
    budget.charge("optimizer", Usage(n, 0, tokens))  one call per sampled prompt, its tokens
    usable  = samples with an instruction            the rest are logged as `unusable_samples`;
                                                     the first usable text ever is kept (`first_usable`)
    scores  = evaluator.evaluate(texts, train)       one `eval` event per evaluated text

Two scoring modes. Without `known`, every usable sample is evaluated and logged, duplicates included
(a trajectory-level reward, as the learned methods need; a repeat is served free by the cache and the
run's ledger, and the `eval` log lists what the policy sampled, in order). With `known`, only distinct
texts not in it are evaluated (best-of-N sampling keeps its own table of scored prompts).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from promptflux.evaluation.budget import Budget
from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.models.hf import LoraSettings
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.events import EventLog
from promptflux.types import Example, Usage

if TYPE_CHECKING:  # policy.py imports the gflowpo package, whose config imports this module
    from promptflux.optimizers.base import MethodContext
    from promptflux.optimizers.gflowpo.meta_prompt import MetaPrompt, MetaPromptBuilder
    from promptflux.optimizers.gflowpo.policy import PromptPolicy, SampledPrompt


class MetaPromptFields(PresetConfig):
    """How the prompt-LM is asked for an instruction, for every method that samples one."""

    num_demos: int = Field(5, ge=1, description="Demonstrations in the meta-prompt, redrawn per step.")
    meta_style: Literal["friend", "imperative"] = Field(
        "friend",
        description="Wording of the meta-prompt (gflowpo/meta_prompt.py META_STYLES): friend (default) "
        "or imperative (asks for one imperative sentence; better for small instruct prompt-LMs).",
    )

    def meta_prompt_builder(self, pool: list[Example], train: list[Example]) -> MetaPromptBuilder:
        from promptflux.optimizers.gflowpo.meta_prompt import META_STYLES, MetaPromptBuilder

        return MetaPromptBuilder(pool, self.num_demos, train=train, style=META_STYLES[self.meta_style])


class LoraFields(MetaPromptFields):
    """The prompt-LM's LoRA adapter, for configs of methods that train one (GFlowPO, PPO)."""

    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    lora_target_modules: tuple[str, ...] = Field(
        ("q_proj", "v_proj"),
        min_length=1,
        description="Modules that get an adapter. The GFlowPO reference passes none, so peft picks its "
        "per-architecture default: q_proj and v_proj for Gemma, Mistral and Llama.",
    )

    def lora_settings(self) -> LoraSettings:
        return LoraSettings(
            r=self.lora_r,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            target_modules=tuple(self.lora_target_modules),
        )


@dataclass(frozen=True)
class Draw:
    """One sampling round: every sample in order, and the training scores of the texts evaluated."""

    samples: list[SampledPrompt]
    scores: dict[str, PromptScore]  # text -> score, in order of first appearance

    @property
    def usable(self) -> list[SampledPrompt]:
        return [s for s in self.samples if s.text]


class PromptDrawer:
    """Samples prompts from a policy, charges them to the optimizer budget and scores them on `train`."""

    def __init__(
        self,
        policy: PromptPolicy,
        evaluator: Evaluator,
        train: list[Example],
        budget: Budget,
        events: EventLog | None = None,
    ) -> None:
        self.policy = policy
        self.evaluator = evaluator
        self.train = train
        self.budget = budget
        self.events = events
        self.first_usable: str | None = None  # the first usable text ever drawn (a method's state)

    def draw(
        self,
        meta: MetaPrompt,
        n: int,
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        rng: np.random.Generator,
        known: Container[str] | None = None,
    ) -> Draw:
        """n samples under `meta`; scores every usable sample, or with `known` each new text once."""
        samples = self.policy.sample(
            meta, n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, rng=rng
        )
        self.budget.charge("optimizer", Usage(len(samples), 0, sum(len(s.token_ids) for s in samples)))
        texts = [s.text for s in samples if s.text]
        if self.first_usable is None and texts:
            self.first_usable = texts[0]
        if len(texts) < len(samples):
            self._emit("unusable_samples", raw=[s.raw for s in samples if not s.text])
        if known is not None:
            texts = [t for t in dict.fromkeys(texts) if t not in known]
        results = self.evaluator.evaluate(texts, self.train) if texts else []
        for r in results:
            self._emit("eval", split="train", prompt=r.prompt, scores=r.scores, accuracy=r.mean)
        return Draw(samples, {r.prompt: r for r in results})

    def _emit(self, kind: str, **data: object) -> None:
        if self.events is not None:
            self.events.append(kind, **data)


def prompt_lm_parts(context: MethodContext, lora: LoraSettings, init_seed: int | None) -> dict[str, Any]:
    """What every prompt-LM method is built from, as keyword arguments of its constructor.

    The adapter is added before the target is resolved, so a target with the prompt-LM's spec is the
    frozen base of the same weights (one model in memory, cache keys of the plain model).
    Demonstrations come from the validation split, never from the training split scored for rewards.
    """
    from promptflux.optimizers.gflowpo.policy import PromptPolicy

    return {
        "policy": PromptPolicy(context.prompt_lm(), lora, init_seed=init_seed),
        "evaluator": context.evaluator(),
        "train": context.task.split(context.train_split),
        "demo_pool": context.task.split(context.val_split),
        "budget": context.budget,
        "events": context.events,
    }
