"""The LLM-optimiser methods' shared parts: their config fields and their base class.

GPO, APE, OPRO, ProTeGi and EvoPrompt ask an optimiser LLM for prompts (the request/parse/retry loop
of proposals.py) and score what comes back on the target. `OptimizerLLMMethod` holds what they all
build the same way: the evaluator, `ask` (the optimiser LLM through the run's cache, ledger and
budget), the proposal settings made from `ProposalConfig`, and `score`, which evaluates prompts and
logs one `Eval` event each: in full, or raced (components/racing.py) when the config turns racing on,
so every method that scores through it races the same way. A method adds its own parts (splits,
demonstrations) in `parts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.evaluation.racing import RaceResult, race
from promptflux.optimizers.base import SearchMethod
from promptflux.optimizers.components.proposals import (
    Ask,
    Check,
    ProposalSettings,
    Slot,
    propose,
    shown_answer,
)
from promptflux.optimizers.components.racing import race_settings
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import Eval
from promptflux.runs.events import EventLog
from promptflux.tasks.base import Task
from promptflux.types import Example, SamplingParams

if TYPE_CHECKING:
    from promptflux.optimizers.context import MethodContext

NO_INSTRUCTION = "(no instruction: the model sees only the input)"


def describe(prompt: str) -> str:
    """A prompt as the optimiser LLM reads it; the empty prompt is named rather than left blank."""
    return prompt if prompt.strip() else NO_INSTRUCTION


def demonstrations(task: Task, examples: Sequence[Example]) -> list[tuple[str, str]]:
    """(input, output) pairs as the optimiser is shown them (the label word for classification)."""
    return [(ex.input, shown_answer(task, ex)) for ex in examples]


class ProposalConfig(PresetConfig):
    """Base of configs whose method asks an optimiser LLM for text in <START> ... <END> tags."""

    temperature: float = Field(1.0, ge=0.0, description="Optimiser sampling temperature.")
    max_new_tokens: int = Field(256, ge=1, description="Longest optimiser reply, in tokens.")
    parse_retries: int = Field(2, ge=0, description="Extra requests for a reply with no parsable answer.")
    max_prompt_words: int = Field(
        200, ge=1, description="Parsed answers with more words are rejected as 'too_long'."
    )
    reply_prefill: str = Field(
        "<START>",
        description="Start of every proposal reply, written for the optimiser by backends that can "
        "continue a reply (local HF models); chat APIs are asked without it.",
    )
    accept_unterminated: bool = Field(
        False,
        description="Take the first line after <START> when a reply never writes <END>, instead of "
        "asking again; for small local optimisers that do not close the tag.",
    )
    seed: int = Field(0, ge=0, description="Seeds every random draw of the method (batches, parents, demos).")

    def proposal_settings(self, **extra: Any) -> ProposalSettings:
        """The proposal loop's settings; `extra` sets the loop's other fields (e.g. check retries)."""
        return ProposalSettings(
            SamplingParams(temperature=self.temperature, max_new_tokens=self.max_new_tokens),
            parse_retries=self.parse_retries,
            max_words=self.max_prompt_words,
            prefill=self.reply_prefill,
            accept_unterminated=self.accept_unterminated,
            seed=self.seed,
            **extra,
        )


class OptimizerLLMMethod(SearchMethod):
    """Base of the methods that ask an optimiser LLM for prompts and score them on the target."""

    uses: ClassVar[frozenset[str]] = frozenset({"optimizer_model"})

    def __init__(
        self, config: Any, evaluator: Evaluator, ask: Ask, *, events: EventLog | None = None
    ) -> None:
        super().__init__(config, events)
        self.evaluator = evaluator
        self.ask = ask
        self.settings = config.proposal_settings()
        self.race = race_settings(config)  # None: every candidate is scored in full

    @classmethod
    def parts(cls, context: MethodContext, config: Any) -> dict[str, Any]:
        context.optimizer_llm()  # a missing or bad optimiser spec fails before the first step
        return {"evaluator": context.evaluator(), "ask": context.ask, "events": context.events}

    def propose(
        self,
        asks: Sequence[tuple[str, int]],
        *,
        step: int,
        stage: int | str,
        check: Check | None = None,
        settings: ProposalSettings | None = None,
    ) -> list[Slot]:
        """One slot per (message, slot index), asked until usable (see proposals.propose)."""
        return propose(
            self.ask, asks, step=step, settings=settings or self.settings, stage=stage, check=check
        )

    def score(
        self,
        prompts: Sequence[str],
        examples: Sequence[Example],
        split: str,
        *,
        per_example: bool = True,
        incumbents: Sequence[str] = (),
    ) -> list[PromptScore]:
        """Score `prompts` on `examples`, one `Eval` event each (with the per-example scores, or only
        their count). Raced when racing is on: a dropped prompt's score is partial (see `score_raced`)."""
        if self.race is not None:
            raced = self.score_raced(prompts, examples, split, per_example=per_example, incumbents=incumbents)
            return [r.score for r in raced.results.values()]
        results = self.evaluator.evaluate(list(prompts), list(examples)) if prompts else []
        for r in results:
            scores, count = (r.scores, None) if per_example else (None, len(examples))
            self.emit(Eval(split=split, prompt=r.prompt, scores=scores, examples=count, accuracy=r.mean))
        return results

    def score_raced(
        self,
        prompts: Sequence[str],
        examples: Sequence[Example],
        split: str,
        *,
        per_example: bool = True,
        incumbents: Sequence[str] = (),
    ) -> RaceResult:
        """Race `prompts` (evaluation/racing.py); `incumbents` (say, the best so far) compete when they
        are already paid for on `examples`. Each `Eval` event says how many of `of` examples a prompt
        was scored on and whether it was dropped, so a partial mean is never read as a full one."""
        assert self.race is not None, "score_raced needs racing on"
        if not prompts:
            return RaceResult({}, 0)
        outcome = race(self.evaluator, prompts, list(examples), self.race, incumbents=incumbents)
        for prompt, r in outcome.results.items():
            self.emit(
                Eval(
                    split=split,
                    prompt=prompt,
                    scores=r.score.scores if per_example else None,
                    examples=None if per_example else r.examples,
                    accuracy=r.score.mean,
                    of=r.total,
                    dropped=r.dropped or None,
                    p_value=r.p_value,
                )
            )
        return outcome
