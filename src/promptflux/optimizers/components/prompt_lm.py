"""The prompt-LM methods' shared parts: their base class, their config fields, and the draw round.

`PromptLMMethod` is the base of GFlowPO, PPO and untrained best-of-N sampling: it holds the policy (a
LoRA prompt-LM), the meta-prompt builder (demonstrations from the validation split, never the training
split scored for rewards), the run's random stream and the `PromptDrawer`, whose `draw` is their one
sampling round:

    samples = policy.sample(M, n, ...)             reproducible from the method's numpy Generator
    record_calls(samples, ledger, budget)          one optimizer call per sampled prompt, its tokens,
                                                   through the ledger like every other call
    usable  = samples with an instruction          the rest are logged as `UnusableSamples`;
                                                   the first usable text ever is kept (`first_usable`)
    scores  = evaluator.evaluate(texts, train)     one `Eval` event per evaluated text

Two scoring modes. Without `known`, every usable sample is evaluated and logged, duplicates included
(a trajectory-level reward, as the learned methods need; a repeat is served free by the cache and the
run's ledger, and the `eval` log lists what the policy sampled, in order). With `known`, only distinct
texts not in it are evaluated (best-of-N sampling keeps its own table of scored prompts).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from promptflux.evaluation.budget import Budget
from promptflux.evaluation.cache import OutputCache
from promptflux.evaluation.calls import record_calls
from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.models.trainable import LoraSettings
from promptflux.optimizers.base import SearchMethod
from promptflux.optimizers.components.meta_prompt import (
    META_STYLES,
    MetaPrompt,
    MetaPromptBuilder,
)
from promptflux.optimizers.components.policy import PromptPolicy, SampledPrompt
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import Eval, UnusableSamples
from promptflux.runs.events import EventLog
from promptflux.types import Example, Generation, Role

if TYPE_CHECKING:
    from promptflux.optimizers.context import MethodContext


class MetaPromptFields(PresetConfig):
    """How the prompt-LM is asked for an instruction, for every method that samples one."""

    num_demos: int = Field(5, ge=1, description="Demonstrations in the meta-prompt, redrawn per step.")
    meta_style: Literal["friend", "imperative"] = Field(
        "friend",
        description="Wording of the meta-prompt (components/meta_prompt.py META_STYLES): friend (default) "
        "or imperative (asks for one imperative sentence; better for small instruct prompt-LMs).",
    )

    def meta_prompt_builder(self, pool: list[Example], train: list[Example]) -> MetaPromptBuilder:
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
    """Samples prompts from a policy, charges them to the optimizer role and scores them on `train`."""

    def __init__(
        self,
        policy: PromptPolicy,
        evaluator: Evaluator,
        train: list[Example],
        budget: Budget,
        events: EventLog | None = None,
        ledger: OutputCache | None = None,
    ) -> None:
        self.policy = policy
        self.evaluator = evaluator
        self.train = train
        self.budget = budget
        self.events = events
        self.ledger = ledger
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
        calls = {s.key: Generation((s.raw,), 0, len(s.token_ids)) for s in samples}
        record_calls(calls, ledger=self.ledger, budget=self.budget, role=Role.OPTIMIZER)
        texts = [s.text for s in samples if s.text]
        if self.first_usable is None and texts:
            self.first_usable = texts[0]
        if len(texts) < len(samples):
            self._emit(UnusableSamples(raw=[s.raw for s in samples if not s.text]))
        if known is not None:
            texts = [t for t in dict.fromkeys(texts) if t not in known]
        results = self.evaluator.evaluate(texts, self.train) if texts else []
        for r in results:
            self._emit(Eval(split="train", prompt=r.prompt, scores=r.scores, accuracy=r.mean))
        return Draw(samples, {r.prompt: r for r in results})

    def _emit(self, event: Eval | UnusableSamples) -> None:
        if self.events is not None:
            self.events.record(event)


class PromptLMMethod(SearchMethod):
    """Base of the methods that sample prompts from a prompt-LM: built from the same parts, drawing
    through one `PromptDrawer` from the run's random stream `rng` (checkpointed)."""

    uses: ClassVar[frozenset[str]] = frozenset({"prompt_lm"})
    trains: ClassVar[bool] = True  # False: the adapter stays untrained (the base model samples)

    def __init__(
        self,
        config: Any,
        policy: PromptPolicy,
        evaluator: Evaluator,
        *,
        train: list[Example],
        demo_pool: list[Example],
        budget: Budget,
        events: EventLog | None = None,
        ledger: OutputCache | None = None,
    ) -> None:
        super().__init__(config, events)
        self.policy = policy
        self.budget = budget
        self.drawer = PromptDrawer(policy, evaluator, train, budget, events, ledger)
        self.builder = config.meta_prompt_builder(demo_pool, train)
        self.rng = np.random.default_rng(config.seed)

    @classmethod
    def parts(cls, context: MethodContext, config: Any) -> dict[str, Any]:
        """The adapter is added before the target is resolved, so a target with the prompt-LM's spec is
        the frozen base of the same weights (one model in memory, cache keys of the plain model)."""
        # An untrained LoRA adapter is the identity (its B matrices start at zero): the base model samples.
        lora, init_seed = (config.lora_settings(), config.seed) if cls.trains else (LoraSettings(), None)
        return {
            "policy": PromptPolicy(context.prompt_lm(), lora, init_seed=init_seed),
            "evaluator": context.evaluator(),
            "train": context.task.split(context.train_split),
            "demo_pool": context.task.split(context.val_split),
            "budget": context.budget,
            "events": context.events,
            "ledger": context.ledger,
        }

    def baselines(self) -> dict[str, str]:
        first = self.drawer.first_usable  # the untrained prompt-LM's first usable sample
        return {"initial sample": first} if first and self.trains else {}

    def state_dict(self) -> dict[str, Any]:
        trained = {"initial_prompt": self.drawer.first_usable, "adapter": self.policy.adapter_state()}
        return {**(trained if self.trains else {}), **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.trains:
            self.drawer.first_usable = state["initial_prompt"]
            self.policy.load_adapter_state(state["adapter"])
        super().load_state_dict(state)
