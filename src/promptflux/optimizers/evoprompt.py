"""EvoPrompt: Guo et al., "Connecting Large Language Models with Evolutionary Algorithms Yields Powerful
Prompt Optimizers" (ICLR 2024).

An evolutionary search in which the optimiser LLM is the variation operator. Members are scored on the
dev split, as in the paper (the driver's validation on dev is then served from the run's ledger, free).

    initialise  the configured `initial_prompts`, topped up to `population` by APE-style induction
                requests (instructions inferred from `demos` random training demonstrations)
    ga          per generation `population` children: two distinct parents drawn by roulette wheel on
                their dev scores, one request that crosses them over and then mutates the result; the
                next population is the best `population` of parents and children
    de          per member (the base): two other distinct members a and b and the current best; one
                request that mutates the parts where a and b differ, merges them into the best, and
                crosses that over with the base; the child replaces the base only if it scores higher

One generation is one driver step. A prompt is scored on dev once: one met again (an old member, a
duplicate child) reuses its score. The population, best first, is what the driver validates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from promptflux.errors import ConfigError
from promptflux.evaluation.evaluator import Evaluator
from promptflux.optimizers.base import best_first
from promptflux.optimizers.components.induction import draw_demos, induction_prompt
from promptflux.optimizers.components.optimizer_llm import (
    OptimizerLLMMethod,
    ProposalConfig,
    demonstrations,
    describe,
)
from promptflux.optimizers.components.proposals import SLOTS, Ask, Slot, proposed, tally
from promptflux.optimizers.components.racing import RacingFields
from promptflux.optimizers.context import MethodContext
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import EvoPromptInit, EvoPromptStep
from promptflux.runs.events import EventLog
from promptflux.types import Example

Variant = Literal["ga", "de"]


class EvoPromptConfig(ProposalConfig, RacingFields):
    """EvoPrompt hyper-parameters; the defaults are the paper's population and generation counts."""

    label: ClassVar[str] = "EvoPrompt"

    variant: Variant = Field("ga", description="ga (genetic algorithm) or de (differential evolution).")
    population: int = Field(10, ge=2, le=SLOTS, description="Members kept; GA children per generation.")
    generations: int = Field(10, ge=1, description="Generations, one driver step each.")
    initial_prompts: tuple[str, ...] = Field(
        (), description="Hand-written starting members; induced instructions fill the rest."
    )
    demos: int = Field(5, ge=1, description="Training demonstrations shown per induction request.")
    temperature: float = Field(
        0.5, ge=0.0, description="Optimiser sampling temperature (the operators are multi-step requests)."
    )

    @classmethod
    def quick(cls) -> EvoPromptConfig:
        """A CPU smoke run: 4 members, 2 generations, short replies; the operators are the default's."""
        return cls(population=4, generations=2, demos=3, max_new_tokens=64, parse_retries=1)

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        return {"default": cls, "quick": cls.quick}


# -------------------------------------------------------------------- meta-prompts (our wording)
def crossover_prompt(first: str, second: str) -> str:
    """GA: cross two parents over, then mutate the offspring, in one request."""
    return (
        "Below are two instructions written for the same task.\n\n"
        f"Instruction 1:\n{describe(first)}\n\nInstruction 2:\n{describe(second)}\n\n"
        "Make one new instruction from them in two moves:\n"
        "1. Combine: join parts of Instruction 1 with parts of Instruction 2 into a single instruction.\n"
        "2. Mutate: change some part of the combined instruction (reword it, add a detail or drop one), "
        "so that it is a copy of neither.\n"
        "Write only the final instruction, between <START> and <END>."
    )


def differential_prompt(a: str, b: str, best: str, base: str) -> str:
    """DE: mutate where a and b differ, merge into the best, cross over with the base, in one request."""
    return (
        "Below are four instructions written for the same task.\n\n"
        f"Instruction A:\n{describe(a)}\n\nInstruction B:\n{describe(b)}\n\n"
        f"Best instruction so far:\n{describe(best)}\n\nBase instruction:\n{describe(base)}\n\n"
        "Make one new instruction from them in four moves:\n"
        "1. Find the parts in which Instruction A and Instruction B differ.\n"
        "2. Mutate those parts: reword or replace each of them.\n"
        "3. Put the mutated parts into the best instruction so far, giving a new instruction.\n"
        "4. Cross that new instruction over with the base instruction, keeping some parts of each.\n"
        "You may work through the moves briefly; then write only the final instruction, between "
        "<START> and <END>."
    )


def roulette(scores: Sequence[float], rng: np.random.Generator, count: int = 2) -> list[int]:
    """`count` distinct indices (fewer if there are fewer scores), each drawn with probability
    proportional to its score among those not drawn yet; uniform when all of those score 0."""
    left = list(range(len(scores)))
    picked = []
    for _ in range(min(count, len(left))):
        weights = np.array([max(scores[i], 0.0) for i in left])
        total = weights.sum()
        j = int(rng.choice(len(left), p=weights / total if total > 0 else None))
        picked.append(left.pop(j))
    return picked


# -------------------------------------------------------------------- the method
class EvoPromptMethod(OptimizerLLMMethod):
    """A dev-scored population evolved by LLM crossover and mutation."""

    name = "evoprompt"
    summary = "a dev-scored population evolved by LLM crossover/mutation, GA or DE (Guo et al. 2024)"
    Config = EvoPromptConfig
    state = ("population", "scored")  # the members, and the dev score of every prompt ever scored

    def __init__(
        self,
        config: EvoPromptConfig,
        evaluator: Evaluator,
        ask: Ask,
        *,
        dev: list[Example],
        demos: list[tuple[str, str]],
        events: EventLog | None = None,
    ) -> None:
        if not dev:
            raise ConfigError("EvoPrompt scores its population on the dev split, which is empty")
        super().__init__(config, evaluator, ask, events=events)
        self.dev = dev
        self.demos = demos  # (input, shown answer) pairs of the training split, for induction
        self.population: list[str] = []

    @classmethod
    def parts(cls, context: MethodContext, config: EvoPromptConfig) -> dict[str, Any]:
        task = context.task
        return {
            **super().parts(context, config),
            "dev": task.split(context.val_split),
            "demos": demonstrations(task, task.split(context.train_split)),
        }

    @property
    def total_steps(self) -> int:
        return self.config.generations

    def step(self, step: int) -> dict[str, Any]:
        first = [] if self.population else self._initialise(step)
        evolve = self._ga if self.config.variant == "ga" else self._de
        slots, counts = evolve(step)
        scores = [self.scored[p] for p in self.population]
        return {
            "population": len(self.population),
            **counts,
            **tally([*first, *slots]),
            "best_dev": max(scores),
            "mean_dev": sum(scores) / len(scores),
        }

    def _initialise(self, step: int) -> list[Slot]:
        """The configured prompts, then induced ones up to `population`; '' if nothing else is usable."""
        cfg = self.config
        given = list(dict.fromkeys(cfg.initial_prompts))[: cfg.population]
        missing = cfg.population - len(given) if self.demos else 0
        asks = [
            (induction_prompt(draw_demos(self.demos, cfg.demos, self.keyed("demos", i))), i)
            for i in range(missing)
        ]
        slots = self.propose(asks, step=step, stage="evoprompt-init")
        members = list(dict.fromkeys([*given, *proposed(slots)])) or [""]
        self._score(members)
        self.population = self._best_first(members)
        self.emit(EvoPromptInit(slots=[s.record() for s in slots], population=self._table()))
        return slots

    def _ga(self, step: int) -> tuple[list[Slot], dict[str, Any]]:
        cfg = self.config
        parents = self.population
        scores = [self.scored[p] for p in parents]
        couples = []
        for i in range(cfg.population):
            drawn = roulette(scores, self.keyed("parents", step, i))
            couples.append([parents[j] for j in (drawn * 2)[:2]])  # a one-member population mates itself
        asks = [(crossover_prompt(a, b), i) for i, (a, b) in enumerate(couples)]
        slots = self.propose(asks, step=step, stage="evoprompt-ga")
        children = proposed(slots)
        new = self._score(children)
        self.population = self._best_first([*parents, *children])[: cfg.population]
        self.emit(
            EvoPromptStep(
                step=step,
                variant="ga",
                parents=couples,
                slots=[s.record() for s in slots],
                new=new,
                population=self._table(),
            )
        )
        return slots, {"children": len(children), "new_prompts": len(new)}

    def _de(self, step: int) -> tuple[list[Slot], dict[str, Any]]:
        members = list(self.population)
        best = self._best_first(members)[0]
        donors = [self._donors(step, i, len(members)) for i in range(len(members))]
        asks = [
            (differential_prompt(members[a], members[b], best, base), i)
            for i, (base, (a, b)) in enumerate(zip(members, donors))
        ]
        slots = self.propose(asks, step=step, stage="evoprompt-de")
        children = {s.index: s.prompt for s in slots if s.prompt is not None}
        new = self._score(list(children.values()))
        replaced = []
        for i, child in children.items():
            if child not in self.population and self.scored[child] > self.scored[members[i]]:
                self.population[i] = child
                replaced.append(i)
        self.emit(
            EvoPromptStep(
                step=step,
                variant="de",
                best=best,
                donors=[[members[a], members[b]] for a, b in donors],
                slots=[s.record() for s in slots],
                new=new,
                replaced=replaced,
                population=self._table(),
            )
        )
        counts = {"children": len(set(children.values())), "new_prompts": len(new), "replaced": len(replaced)}
        return slots, counts

    def _donors(self, step: int, base: int, size: int) -> tuple[int, int]:
        """Two distinct members other than the base (repeated, or the base, in a tiny population)."""
        others = [j for j in range(size) if j != base] or [base]
        if len(others) == 1:
            return others[0], others[0]
        a, b = self.keyed("donors", step, base).choice(others, size=2, replace=False)
        return int(a), int(b)

    def _score(self, prompts: Sequence[str]) -> list[str]:
        """Score the prompts never scored before on dev; returns those, in order."""
        new = [p for p in dict.fromkeys(prompts) if p not in self.scored]
        for r in self.score(new, self.dev, "dev", incumbents=best_first(self.scored)[:1]):
            self.scored[r.prompt] = r.mean
        return new

    def _best_first(self, prompts: Sequence[str]) -> list[str]:
        """Distinct prompts by dev score; ties keep their order (parents before children: elitism)."""
        return sorted(dict.fromkeys(prompts), key=lambda p: -self.scored[p])

    def _table(self) -> list[list[Any]]:
        return [[p, self.scored[p]] for p in self.population]

    # ------------------------------------------------------------------ selection and checkpoints
    def candidates(self) -> list[str]:
        """The population by dev score (shorter first among ties)."""
        return best_first(self.scored, self.population)
