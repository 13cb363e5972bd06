"""Racing: score candidates on growing blocks of examples, and stop paying for the ones a paired test
says are worse than the best (CAPO, Zehle et al. 2025, after F-Race, Birattari et al. 2002).

    known   = candidates already paid for on every example (the run's ledger): scored whole, free,
              never dropped; `incumbents` join the race only when known (a free yardstick)
    for each block of `block` examples, in the order given:
        score every live candidate on the block        one batched evaluate: cache, ledger, budget
        best = the contender with the highest mean on the examples seen so far (ties: the earlier one)
        each other live candidate X: one-sided paired test of best - X on those examples;
            p < alpha: X is dropped, keeping its partial scores (a mean over fewer examples)
    survivors end with their full score; no test after the last block (nothing left to save).

Every score goes through `Evaluator.evaluate`, so a block already paid for (a resumed step, a second
race, a prompt scored before) costs nothing, the budget is charged only for calls actually made, and a
race redone on the same ledger makes the same decisions. Callers fix the example order (a split's
order, or a seeded shuffle): the blocks are its prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from promptflux.errors import ConfigError
from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.evaluation.stats import paired_t_p, sign_test_p
from promptflux.types import Example

RaceTest = Literal["ttest", "sign"]


@dataclass(frozen=True)
class RaceSettings:
    """How a race is run: examples per block, the test and its level (CAPO: paired t-test)."""

    block: int = 8
    alpha: float = 0.05
    test: RaceTest = "ttest"

    def __post_init__(self) -> None:
        if self.block < 1:
            raise ConfigError(f"race block must be at least 1 example, got {self.block}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"race alpha must be between 0 and 1 (e.g. 0.05), got {self.alpha}")
        if self.test not in get_args(RaceTest):
            raise ConfigError(f"race test must be one of {', '.join(get_args(RaceTest))}, got {self.test!r}")

    def p_value(self, best: Sequence[float], other: Sequence[float]) -> float:
        """One-sided p-value of "`other` is no worse than `best`", paired example by example."""
        diffs = [b - o for b, o in zip(best, other)]
        return paired_t_p(diffs) if self.test == "ttest" else sign_test_p(diffs)


@dataclass(frozen=True)
class Raced:
    """One candidate's outcome. `score` covers only the examples it was scored on when dropped."""

    score: PromptScore
    total: int  # examples in a full score
    dropped_by: str | None = None  # the best prompt it lost to
    p_value: float | None = None

    @property
    def dropped(self) -> bool:
        return self.dropped_by is not None

    @property
    def examples(self) -> int:
        return len(self.score.scores)


@dataclass(frozen=True)
class RaceResult:
    """Outcomes of the raced prompts (incumbents left out), in the order given."""

    results: dict[str, Raced]
    calls: int  # calls charged to the evaluator's role during the race

    def ranked(self) -> list[str]:
        """Survivors by full mean, then dropped prompts by partial mean; ties keep the given order."""
        order = {p: i for i, p in enumerate(self.results)}
        return sorted(
            self.results, key=lambda p: (self.results[p].dropped, -self.results[p].score.mean, order[p])
        )

    @property
    def dropped(self) -> list[str]:
        return [p for p, r in self.results.items() if r.dropped]


def race(
    evaluator: Evaluator,
    prompts: Sequence[str],
    examples: Sequence[Example] | str,
    settings: RaceSettings,
    *,
    incumbents: Sequence[str] = (),
) -> RaceResult:
    """Race `prompts` on `examples` (or a split name); see the module docstring."""
    if isinstance(examples, str):
        examples = evaluator.task.split(examples)
    examples = list(examples)
    prompts = list(dict.fromkeys(prompts))
    n = len(examples)
    role = evaluator.role
    before = evaluator.budget.used[role].calls
    refs = [p for p in dict.fromkeys(incumbents) if p not in prompts]
    known = [p for p in [*refs, *prompts] if n and evaluator.is_known(p, examples)]
    table: dict[str, _Partial] = {p: _Partial() for p in [*known, *prompts]}
    for r in evaluator.evaluate(known, examples) if known else []:
        table[r.prompt].add(r)
    live = [p for p in prompts if p not in known]
    dropped: dict[str, tuple[str, float]] = {}
    seen = 0
    while live and seen < n:
        alone = len(known) + len(live) < 2  # nobody to lose to: score the rest in one go
        end = n if alone else min(seen + settings.block, n)
        for r in evaluator.evaluate(live, examples[seen:end]):
            table[r.prompt].add(r)
        seen = end
        if seen >= n:
            break
        contenders = [p for p in table if p in known or p in live]
        best = max(contenders, key=lambda p: (table[p].mean(seen), -contenders.index(p)))
        for p in live:
            if p != best:
                p_value = settings.p_value(table[best].scores[:seen], table[p].scores[:seen])
                if p_value < settings.alpha:
                    dropped[p] = (best, p_value)
        live = [p for p in live if p not in dropped]
    results = {}
    for p in prompts:
        by, p_value = dropped.get(p, (None, None))
        results[p] = Raced(table[p].prompt_score(p), n, by, p_value)
    return RaceResult(results, evaluator.budget.used[role].calls - before)


class _Partial:
    """Per-example scores gathered block by block."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.scores: list[float] = []
        self.predictions: list[str] = []

    def add(self, r: PromptScore) -> None:
        self.ids += r.example_ids
        self.scores += r.scores
        self.predictions += r.predictions

    def mean(self, upto: int) -> float:
        return sum(self.scores[:upto]) / upto

    def prompt_score(self, prompt: str) -> PromptScore:
        return PromptScore(prompt, tuple(self.ids), tuple(self.scores), tuple(self.predictions))
