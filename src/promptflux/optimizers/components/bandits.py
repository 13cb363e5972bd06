"""Choosing the best few prompts under a fixed number of pulls (ProTeGi's beam selection).

One pull scores one prompt on one batch of training examples. The r-th pull of every arm uses batch r,
so arms are compared on the same examples, and a (prompt, example) pair scored in an earlier step comes
back from the evaluator's cache instead of being paid for again.

    ucb                 every arm once, then the arm with the highest mean + c * sqrt(ln t / pulls)
    successive_rejects  Audibert & Bubeck (2010), stopped when `keep` arms are left: in each phase the
                        survivors are pulled up to the phase's count, then the worst one is rejected

Both spend at most `budget` pulls; with fewer pulls than arms, the arms listed first are pulled once and
the rest rank last, so a caller that lists its incumbents first keeps them when the budget is tiny.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

Strategy = Literal["ucb", "successive_rejects"]

Pull = Callable[[Sequence[str], int], Sequence[Sequence[float]]]
"""Scores the given arms on batch r: for each arm, its per-example scores."""


@dataclass
class Arm:
    """What one arm has been observed to score so far."""

    total: float = 0.0
    examples: int = 0
    pulls: int = 0

    @property
    def mean(self) -> float:
        return self.total / self.examples if self.examples else 0.0

    def add(self, scores: Sequence[float]) -> None:
        self.total += sum(scores)
        self.examples += len(scores)
        self.pulls += 1


@dataclass(frozen=True)
class BanditResult:
    ranking: list[str]  # best first: every arm, unpulled ones last
    arms: dict[str, Arm] = field(default_factory=dict)

    @property
    def pulls(self) -> int:
        return sum(a.pulls for a in self.arms.values())


def select(
    strategy: Strategy,
    prompts: Sequence[str],
    *,
    budget: int,
    keep: int,
    pull: Pull,
    exploration: float = 1.0,
) -> BanditResult:
    """Rank `prompts` (distinct; incumbents first) with the chosen strategy."""
    if len(set(prompts)) != len(prompts):
        raise ValueError("bandit arms must be distinct")
    if strategy == "ucb":
        return ucb(prompts, budget=budget, pull=pull, exploration=exploration)
    return successive_rejects(prompts, budget=budget, keep=keep, pull=pull)


def ucb(prompts: Sequence[str], *, budget: int, pull: Pull, exploration: float) -> BanditResult:
    """UCB1 with exploration weight `exploration`; ranked by mean at the end."""
    arms = {p: Arm() for p in prompts}
    for t in range(budget if prompts else 0):
        prompt = upper_bound_choice(prompts, arms, t, exploration)
        _pull(arms, [prompt], arms[prompt].pulls, pull)
    return BanditResult(by_mean(prompts, arms), arms)


def upper_bound_choice(prompts: Sequence[str], arms: dict[str, Arm], t: int, c: float) -> str:
    """The first unpulled arm, else the highest mean + c * sqrt(ln t / pulls), t = pulls so far
    (ties: the arm listed first). Public so that a method spreading UCB over several steps (APE) can
    keep its arms in its checkpoint and choose one pull at a time."""
    fresh = [p for p in prompts if arms[p].pulls == 0]
    if fresh:
        return fresh[0]
    log_t = math.log(max(t, 1))
    return max(prompts, key=lambda p: arms[p].mean + c * math.sqrt(log_t / arms[p].pulls))


def successive_rejects(prompts: Sequence[str], *, budget: int, keep: int, pull: Pull) -> BanditResult:
    """Reject the worst survivor after each phase until `keep` remain; survivors first, then the
    rejected arms, the last rejected first."""
    k = len(prompts)
    if k <= keep or budget < k:  # nothing to reject, or not one pull each: spread the pulls evenly
        arms = _round_robin(prompts, budget, pull)
        return BanditResult(by_mean(prompts, arms), arms)
    arms = {p: Arm() for p in prompts}
    alive, rejected, done = list(prompts), [], 0
    for target in rejection_schedule(k, keep, budget):
        for r in range(done, target):
            _pull(arms, alive, r, pull)
        done = target
        worst = min(reversed(alive), key=lambda p: arms[p].mean)  # ties: the arm listed last goes
        alive.remove(worst)
        rejected.append(worst)
    return BanditResult([*by_mean(alive, arms), *reversed(rejected)], arms)


def rejection_schedule(arms: int, keep: int, budget: int) -> list[int]:
    """Pulls each survivor has had at the end of phases 1 .. arms - keep (Audibert & Bubeck's n_k).

    n_k = 1 + floor((budget - arms) / (L * (arms + 1 - k))) with L = keep / (keep + 1) + sum of 1/j
    for j in keep+1 .. arms: an arm rejected in phase k gets n_k pulls and the `keep` survivors get the
    last n_k, which adds up to at most `budget` (L is A&B's log-bar when keep = 1). Exact fractions, so
    rounding can never push the total over the budget.
    """
    if not keep < arms <= budget:
        raise ValueError(f"a rejection schedule needs keep < arms <= budget, got {keep}, {arms}, {budget}")
    norm = Fraction(keep, keep + 1) + sum(Fraction(1, j) for j in range(keep + 1, arms + 1))
    return [1 + math.floor((budget - arms) / (norm * (arms + 1 - k))) for k in range(1, arms - keep + 1)]


def by_mean(prompts: Sequence[str], arms: dict[str, Arm]) -> list[str]:
    """Pulled arms by mean (then by pulls, then listed order), then the unpulled ones as listed."""
    pulled = [p for p in prompts if arms[p].pulls]
    ranked = sorted(pulled, key=lambda p: (-arms[p].mean, -arms[p].pulls))
    return [*ranked, *(p for p in prompts if not arms[p].pulls)]


def _round_robin(prompts: Sequence[str], budget: int, pull: Pull) -> dict[str, Arm]:
    """`budget` pulls in rounds over all arms; a last, partial round pulls the arms listed first."""
    arms = {p: Arm() for p in prompts}
    rounds, extra = divmod(budget, len(prompts)) if prompts else (0, 0)
    for r in range(rounds):
        _pull(arms, prompts, r, pull)
    if extra:
        _pull(arms, prompts[:extra], rounds, pull)
    return arms


def _pull(arms: dict[str, Arm], prompts: Sequence[str], batch: int, pull: Pull) -> None:
    for prompt, scores in zip(prompts, pull(prompts, batch)):
        arms[prompt].add(scores)
