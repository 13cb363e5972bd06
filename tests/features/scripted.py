"""A scripted target and method for the selection tests (length objective, demonstrations): every
validation score is known in advance, so a test can say which candidate must win."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptflux.evaluation import Budget, Evaluator, OutputCache
from promptflux.models.base import LanguageModel
from promptflux.recipe.driver import Selection, run_method
from promptflux.runs import RunFolder
from promptflux.tasks.base import ClassificationTask, Template
from promptflux.types import Example, Generation, GenRequest, Role, ScoreRequest, ScoreResult

LABELS = ("negative", "positive")


def scripted_task(n_val: int = 4, n_train: int = 6) -> ClassificationTask:
    """Inputs "good #i" / "bad #i": the label is in the word, the example's number after '#'."""

    def rows(split: str, n: int, offset: int) -> list[Example]:
        out = []
        for i in range(n):
            y = i % 2
            text = f"{'good' if y else 'bad'} {split} #{i}"
            out.append(Example(f"{split}/{i}", text, LABELS[y], label=y))
        return out

    splits = {
        "train": rows("train", n_train, 0),
        "dev": rows("dev", n_val, 0),
        "test": rows("test", n_val, 0),
    }
    return ClassificationTask("scripted", splits, LABELS, Template("{prompt}\nReview: {input}\nSentiment:"))


class ScriptedTarget(LanguageModel):
    """Right on the first r examples of a split (by their number), where r = `right[instruction]` plus one
    per `magic` training input shown as a demonstration; wrong on the others."""

    name = "scripted"

    def __init__(self, right: dict[str, int], magic: Sequence[str] = ()) -> None:
        super().__init__()
        self.right, self.magic = right, tuple(magic)
        self.seen: list[str] = []

    def fingerprint(self) -> str:
        return "scripted:" + repr(sorted(self.right.items())) + repr(self.magic)

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        raise NotImplementedError

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out = []
        for r in requests:
            self.seen.append(r.context)
            first = r.context.split("\n")[0]
            instruction = "" if first.startswith("Review:") else first
            query = r.context.rsplit("Review: ", 1)[1]
            number = int(re.search(r"#(\d+)", query).group(1))
            shown = sum(f"Review: {m}\n" in r.context for m in self.magic)
            positive = query.startswith("good")
            correct = number < self.right.get(instruction, 0) + shown
            says_positive = positive if correct else not positive
            out.append(ScoreResult((-1.0, -0.5) if says_positive else (-0.5, -1.0), prompt_tokens=5))
        return out


class ListMethod:
    """A method of one step whose candidates are a fixed list."""

    name = "list"
    total_steps = 1

    def __init__(self, prompts: Sequence[str]) -> None:
        self.prompts = list(prompts)

    def step(self, step: int) -> dict[str, Any]:
        return {}

    def candidates(self) -> list[str]:
        return list(self.prompts)

    def baselines(self) -> dict[str, str]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def run_scripted(
    folder: Path,
    target: ScriptedTarget,
    prompts: Sequence[str],
    task: ClassificationTask | None = None,
    **selection: Any,
) -> dict[str, Any]:
    """Run ListMethod(prompts) through the driver into `folder` with `selection` options."""
    task = task or scripted_task()
    budget = Budget()
    run = RunFolder.create(folder, {"method": "list"})
    try:
        evaluators = [
            Evaluator(task, target, cache=OutputCache(), budget=budget, role=role)
            for role in (Role.TARGET, Role.SELECTION)
        ]
        return run_method(
            ListMethod(prompts),
            run=run,
            train_evaluator=evaluators[0],
            selection_evaluator=evaluators[1],
            budget=budget,
            selection=Selection(validate_top=100, **selection),
        )
    finally:
        run.close()
