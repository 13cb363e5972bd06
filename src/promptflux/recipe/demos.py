"""Demonstrations chosen with the instruction (`demos: k`, `demo_search: after`), for every method.

    after the instruction is selected on validation:
        draw `trials` distinct k-subsets of training examples (label-balanced for classification)
        score the chosen instruction with each subset on the validation split (same evaluator, cache,
            ledger and selection role as every validation)
        keep the best by the selection score; zero demonstrations wins every tie, so the result is
            never worse on validation than the instruction alone
    the test split is then scored once, with the demonstrations kept (if any)

Demonstrations come from the training split only, and never an example whose id or input also
appears in the validation or test split. They are rendered in the task's own format
(`Task.with_demos`), so cache keys, exports and token counts see them like the instruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from promptflux.errors import ConfigError
from promptflux.evaluation.budget import Budget
from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.recipe.objective import LengthObjective
from promptflux.runs.event_types import Validation
from promptflux.runs.events import EventLog
from promptflux.tasks.base import Task
from promptflux.types import Example


@dataclass(frozen=True)
class DemoSearch:
    k: int  # demonstrations shown with the instruction
    trials: int = 8  # k-subsets tried on validation
    seed: int = 0  # of the subsets drawn (the method's seed)
    search: Literal["after"] = "after"  # after the instruction search (the only strategy so far)
    train_split: str = "train"


@dataclass(frozen=True)
class Picked:
    """The demonstrations kept, with the instruction's validation accuracy and prompt tokens with them."""

    demos: tuple[Example, ...]
    val: float
    tokens: int | None


def demo_pool(task: Task, train_split: str, held_out: Sequence[str]) -> list[Example]:
    """Training examples that share neither an id nor an input with the held-out splits."""
    out = [ex for ex in task.split(train_split)]
    for split in held_out:
        ids = {ex.id for ex in task.split(split)}
        inputs = {ex.input for ex in task.split(split)}
        out = [ex for ex in out if ex.id not in ids and ex.input not in inputs]
    return out


def draw_subsets(
    pool: Sequence[Example], k: int, n: int, rng: np.random.Generator
) -> list[tuple[Example, ...]]:
    """Up to `n` distinct k-subsets of `pool`. With labels, each subset takes the labels in turn (a
    random example of each), so k >= the number of labels shows every label."""
    by_label: dict[Any, list[Example]] = {}
    for ex in pool:
        by_label.setdefault(ex.label, []).append(ex)
    groups = [by_label[label] for label in sorted(by_label, key=str)]
    found: dict[tuple[str, ...], tuple[Example, ...]] = {}
    for _ in range(20 * n):
        if len(found) == n:
            break
        queues = [list(g[i] for i in rng.permutation(len(g))) for g in groups]
        start = int(rng.integers(len(queues)))
        picked: list[Example] = []
        while len(picked) < k:
            queue = queues[(start + len(picked)) % len(queues)] or next(q for q in queues if q)
            picked.append(queue.pop())
        order = [picked[i] for i in rng.permutation(k)]
        found.setdefault(tuple(sorted(ex.id for ex in order)), tuple(order))
    return list(found.values())


def search_demos(
    instruction: str,
    val: float,
    search: DemoSearch,
    *,
    evaluator: Evaluator,
    val_split: str,
    test_split: str,
    objective: LengthObjective | None,
    events: EventLog,
    budget: Budget,
) -> Picked:
    """The best of `search.trials` demonstration sets for `instruction` on validation, or none."""
    task = evaluator.task
    pool = demo_pool(task, search.train_split, [val_split, test_split])
    if len(pool) < search.k:
        raise ConfigError(
            f"demos: {search.k} needs {search.k} training examples not in the {val_split!r} or "
            f"{test_split!r} split; {task.name!r} has {len(pool)}: lower demos"
        )

    def selection_score(accuracy: float, tokens: int | None) -> float:
        return accuracy if objective is None or tokens is None else objective.score(accuracy, tokens)

    bare_tokens = None if objective is None else objective.tokens(instruction)
    best, best_score = Picked((), val, bare_tokens), selection_score(val, bare_tokens)
    for demos in draw_subsets(pool, search.k, search.trials, np.random.default_rng(search.seed)):
        shown = task.with_demos(demos)
        (score,) = evaluator.for_task(shown).evaluate([instruction], val_split)
        tokens = None if objective is None else objective.tokens(instruction, shown.template.demos)
        events.record(
            Validation(
                prompt=instruction,
                split=val_split,
                scores=list(score.scores),
                accuracy=score.mean,
                prompt_tokens=tokens,
                demos=[ex.id for ex in demos],
                budget=budget.snapshot(),
            )
        )
        if selection_score(score.mean, tokens) > best_score:
            best, best_score = Picked(tuple(demos), score.mean, tokens), selection_score(score.mean, tokens)
    return best


def demo_record(task: Task, demos: Sequence[Example]) -> list[dict[str, str]]:
    """How result.json, exports and reports show demonstrations: id, input and the answer shown."""
    return [{"id": ex.id, "input": ex.input, "output": task.demo_answer(ex)} for ex in demos]


def apply_demos(
    result: dict[str, Any], task: Task, picked: Picked, search: DemoSearch, test: PromptScore | None
) -> None:
    """result.json's record of the search: what was tried, and the chosen row with the demonstrations
    kept (`task` renders them), its validation accuracy and its one test score with them."""
    row = result["prompts"]["chosen"]
    row["demos"] = demo_record(task, picked.demos)
    if picked.demos and test is not None:
        low, high = test.ci95
        row.update(val=picked.val, test=test.mean, test_ci95=[low, high], test_n=len(test.scores))
    result["demos"] = {
        "k": search.k,
        "trials": search.trials,
        "search": search.search,
        "kept": len(picked.demos),
    }
