"""OPRO: Yang et al., "Large Language Models as Optimizers" (ICLR 2024).

The optimiser LLM sees the best instructions so far with their training scores and writes new ones:

    step t:  meta-prompt = top `max_shown` scored instructions, 0-100, lowest first (best last)
                         + `exemplars` random training examples, rendered with the task's template and a
                           marker where the instruction goes, each with its expected answer
                         + "write a new instruction, different from all of the above, in tags"
             `candidates_per_step` calls at `temperature`, one completion each (shared proposal loop)
             every new, never-seen instruction is scored on the whole training split

OPRO optimises the training score, so a known instruction is never scored again and the best by
training score is the first candidate the driver validates. One driver step is one OPRO step; the
first one also scores the initial instruction (default: none, the empty string).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field

from promptflux.errors import ConfigError
from promptflux.evaluation.evaluator import Evaluator
from promptflux.optimizers.base import best_first
from promptflux.optimizers.components.optimizer_llm import OptimizerLLMMethod, ProposalConfig
from promptflux.optimizers.components.proposals import Ask, proposed, shown_answer, tally
from promptflux.optimizers.components.racing import RacingFields
from promptflux.optimizers.context import MethodContext
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import OPROStep
from promptflux.runs.events import EventLog
from promptflux.types import Example

MARKER = "<INSTRUCTION>"
"""Stands for the instruction in the rendered exemplars, so the optimiser sees where its text goes."""


class OPROConfig(ProposalConfig, RacingFields):
    """OPRO hyper-parameters; the defaults follow the paper's main setting."""

    label: ClassVar[str] = "OPRO"

    steps: int = Field(20, ge=1, description="Optimisation steps, each one meta-prompt.")
    candidates_per_step: int = Field(
        8, ge=1, le=1000, description="New instructions per step, one call each."
    )
    max_shown: int = Field(20, ge=1, description="Best instructions so far shown with their scores.")
    exemplars: int = Field(3, ge=0, description="Random training examples shown per step (redrawn).")
    initial_prompt: str = Field("", description="Instruction scored first; '' = no instruction.")
    candidates: int = Field(
        10, ge=1, description="Best instructions by training score offered to validation on dev."
    )
    seed: int = Field(0, ge=0, description="Seeds the exemplar draws.")

    @classmethod
    def quick(cls) -> OPROConfig:
        """A CPU smoke run: 3 steps of 4 candidates, short replies; the loop is the default's."""
        return cls(steps=3, candidates_per_step=4, exemplars=2, max_new_tokens=64, parse_retries=1)

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        return {"default": cls, "quick": cls.quick}


def format_score(score: float) -> str:
    """A [0, 1] score on the 0-100 scale the meta-prompt promises, e.g. 0.4167 -> '42'."""
    return f"{round(score * 100)}"


def meta_prompt(shown: Sequence[tuple[str, float]], exemplars: Sequence[tuple[str, str]]) -> str:
    """The request for one new instruction; `shown` is (instruction, score) lowest first."""
    history = "\n\n".join(
        f"Instruction: {p or '(empty: no instruction)'}\nAccuracy: {format_score(s)}" for p, s in shown
    )
    sections = [
        "Your job is to find an instruction that makes a language model answer the task below "
        "correctly as often as possible.",
        "Instructions tried so far, each with its accuracy on the training examples from 0 to 100, "
        f"listed from the lowest accuracy to the highest:\n\n{history}",
    ]
    if exemplars:
        cases = "\n\n".join(f"{text}\nExpected answer: {answer}" for text, answer in exemplars)
        sections.append(
            f"Examples of the task, as the model sees them; {MARKER} marks where the instruction is "
            f"placed:\n\n{cases}"
        )
    sections.append(
        "Write one new instruction that is different from every instruction listed above and should "
        "reach a higher accuracy than all of them. Write only the instruction, between <START> and <END>."
    )
    return "\n\n".join(sections)


class OPROMethod(OptimizerLLMMethod):
    """A growing table of training scores drives every meta-prompt."""

    name = "opro"
    summary = "LLM optimiser shown its best prompts so far with training scores (Yang et al. 2024)"
    Config = OPROConfig
    state = ("scored",)

    def __init__(
        self,
        config: OPROConfig,
        evaluator: Evaluator,
        ask: Ask,
        *,
        train: list[Example],
        exemplars: list[tuple[str, str]],
        events: EventLog | None = None,
    ) -> None:
        if not train:
            raise ConfigError("OPRO scores prompts on the training split, which is empty")
        super().__init__(config, evaluator, ask, events=events)
        self.train = train
        self.exemplars = exemplars  # (rendered input with MARKER, expected answer), one per example

    @classmethod
    def parts(cls, context: MethodContext, config: OPROConfig) -> dict[str, Any]:
        task = context.task
        train = task.split(context.train_split)
        exemplars = [(task.template.render(MARKER, ex.input), shown_answer(task, ex)) for ex in train]
        return {**super().parts(context, config), "train": train, "exemplars": exemplars}

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        if not self.scored:
            self._score([cfg.initial_prompt])
        shown = self.shown()
        message = meta_prompt(shown, self._draw(step))
        asks = [(message, i) for i in range(cfg.candidates_per_step)]
        slots = self.propose(asks, step=step, stage="opro")
        prompts = proposed(slots)
        new = [p for p in prompts if p not in self.scored]
        self._score(new)
        self.emit(
            OPROStep(
                step=step,
                meta_prompt=message,
                shown=[[p, s] for p, s in shown],
                slots=[s.record() for s in slots],
                new=[[p, self.scored[p]] for p in new],
            )
        )
        new_scores = [self.scored[p] for p in new]
        return {
            "candidates": len(prompts),
            "new_prompts": len(new),
            **tally(slots),
            "mean_new_train": sum(new_scores) / len(new_scores) if new_scores else None,
            "best_train": max(self.scored.values()),
        }

    def shown(self) -> list[tuple[str, float]]:
        """The top `max_shown` instructions, lowest score first; ties keep the order they were found in."""
        best = sorted(self.scored.items(), key=lambda item: -item[1])[: self.config.max_shown]
        return sorted(best, key=lambda item: item[1])

    def _draw(self, step: int) -> list[tuple[str, str]]:
        """This step's exemplars: fixed by (seed, step), so a redone step shows the same ones."""
        size = min(self.config.exemplars, len(self.exemplars))
        picked = self.keyed(step).choice(len(self.exemplars), size=size, replace=False)
        return [self.exemplars[int(i)] for i in picked]

    def _score(self, prompts: list[str]) -> None:
        """Score on the whole training split; raced, new prompts race the best so far (free: known)."""
        for r in self.score(prompts, self.train, "train", incumbents=best_first(self.scored)[:1]):
            self.scored[r.prompt] = r.mean
