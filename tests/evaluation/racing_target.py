"""A scripted target for racing tests: how often a prompt is right is written in the prompt itself, so
the drop a race should make is known in advance.

    "... right ..."   the correct label on every example
    "... wrong ..."   the wrong label on every example
    "... even ..."    right on examples with an even number (item-0, item-2, ...), wrong on the others
    anything else     always "negative" (right on the negative half)

Each example's input is "item-<i> is <label>", so the target reads the answer from the request and
counts every request it is really sent (`sent`), apart from the budget's counters. `crash_after`
makes it fail like a server that dies once that many requests were answered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from promptflux.models.base import LanguageModel
from promptflux.tasks.base import ClassificationTask, Template
from promptflux.types import Example, Generation, GenRequest, ScoreRequest, ScoreResult

LABELS = ("negative", "positive")


class ScriptedTarget(LanguageModel):
    name = "scripted"

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__()
        self.sent = 0
        self.crash_after = crash_after

    def fingerprint(self) -> str:
        return "scripted-racing-target"

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        raise NotImplementedError

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        if self.crash_after is not None and self.sent + len(requests) > self.crash_after:
            raise RuntimeError("scripted target: the server died")
        self.sent += len(requests)
        return [self._answer(r.context) for r in requests]

    @staticmethod
    def _answer(context: str) -> ScoreResult:
        found = re.search(r"item-(\d+) is (\w+)", context)
        assert found, context
        instruction = context[: found.start()]
        number, truth = int(found.group(1)), found.group(2)
        if "right" in instruction:
            says = truth
        elif "wrong" in instruction:
            says = LABELS[1 - LABELS.index(truth)]
        elif "even" in instruction:
            says = truth if number % 2 == 0 else LABELS[1 - LABELS.index(truth)]
        else:
            says = "negative"
        return ScoreResult((-0.1, -2.0) if says == "negative" else (-2.0, -0.1), prompt_tokens=4)


def numbered_csv(folder: Path, splits: str) -> str:
    """The numbered examples as a custom task (`--task custom:...`): 40 rows, labels alternating."""
    rows = "".join(f"item-{i} is {LABELS[i % 2]},{LABELS[i % 2]}\n" for i in range(40))
    (folder / "numbered.csv").write_text("text,label\n" + rows)
    spec = folder / "numbered.yaml"
    spec.write_text(
        f"file: numbered.csv\nsplits: {splits}\ninput_column: text\ntarget_column: label\n"
        "labels: [negative, positive]\n"
    )
    return f"custom:{spec}"


def numbered_task(n: int, splits: Sequence[str] = ("train",)) -> ClassificationTask:
    """`n` examples per split, labels alternating, inputs naming their own answer."""
    examples = [
        Example(f"item-{i}", f"item-{i} is {LABELS[i % 2]}", LABELS[i % 2], label=i % 2) for i in range(n)
    ]
    template = Template("{prompt}\nInput: {input}\nAnswer:")
    return ClassificationTask("numbered", {s: list(examples) for s in splits}, LABELS, template)
