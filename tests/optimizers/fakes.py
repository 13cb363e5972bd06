"""Fakes for LLM-optimiser tests: a target whose accuracy depends on the prompt's words, a scripted
optimiser LLM, and an evaluator over the toy sentiment task wired to them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from promptflux.evaluation import Budget, Evaluator, OutputCache
from promptflux.models.base import LanguageModel
from promptflux.tasks.base import ClassificationTask, Task, Template
from promptflux.types import Example, Generation, GenRequest, ScoreRequest, ScoreResult
from tests.helpers import NEGATIVE, POSITIVE, toy_sentiment_task


class KeywordTarget(LanguageModel):
    """Reads the sentiment right only when the instruction says "sentiment" (or "mood": half right)."""

    name = "keyword"

    def fingerprint(self) -> str:
        return "keyword-target"

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        raise NotImplementedError

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out = []
        for r in requests:
            instruction = r.context.split("Review:")[0].lower()  # empty when there is no instruction
            positive = any(text in r.context for text in POSITIVE)
            if "sentiment" in instruction:
                says_positive = positive
            elif "mood" in instruction:
                says_positive = True
            else:
                says_positive = False
            out.append(ScoreResult((-1.0, -0.5) if says_positive else (-0.5, -1.0), prompt_tokens=5))
        return out


class ScriptedOptimizer:
    """Stands in for the optimiser LLM: replies from `reply(request, call_index)`, records every request."""

    def __init__(self, reply: Callable[[GenRequest, int], str]) -> None:
        self.reply = reply
        self.requests: list[GenRequest] = []

    def __call__(self, requests: Sequence[GenRequest]) -> list[Generation]:
        out = []
        for r in requests:
            out.append(Generation((self.reply(r, len(self.requests)),), 10, 5))
            self.requests.append(r)
        return out


def sentiment_task(per_label: int) -> ClassificationTask:
    """The toy sentiment task with `per_label` numbered reviews of each label in its train split."""
    rows = [(f"{POSITIVE[i % 3]} #{i}", 1) for i in range(per_label)]
    rows += [(f"{NEGATIVE[i % 3]} #{i}", 0) for i in range(per_label)]
    labels = ("negative", "positive")
    examples = [Example(f"toy/{i}", text, labels[y], label=y) for i, (text, y) in enumerate(rows)]
    return ClassificationTask(
        "toy-sentiment", {"train": examples}, labels, Template("{prompt}\nReview: {input}\nSentiment:")
    )


def make_evaluator(budget: Budget | None = None, task: Task | None = None) -> Evaluator:
    """The toy sentiment task (6 examples) on a KeywordTarget, through an in-memory cache."""
    return Evaluator(
        task or toy_sentiment_task(), KeywordTarget(), cache=OutputCache(), budget=budget or Budget()
    )


def tags(text: str) -> str:
    """A reply with `text` as its parsable prompt."""
    return f"Here it is: <START>{text}<END>"


class TaggingModel(LanguageModel):
    """An optimiser LLM that always answers in tags: one of `prompts`, picked by the request's slot."""

    name = "tagging"

    def __init__(self, prompts: Sequence[str]) -> None:
        super().__init__()
        self.prompts = list(prompts)

    def fingerprint(self) -> str:
        return "tagging:" + "|".join(self.prompts)

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        slot = [r.sample_id // 1000 % 1000 for r in requests]
        return [Generation((tags(self.prompts[s % len(self.prompts)]),), 10, 5) for s in slot]

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        raise NotImplementedError


class HashTagger(TaggingModel):
    """An optimiser LLM whose tagged reply is a deterministic hash of the request: each OPRO step (its
    meta-prompt shows the scores so far) proposes mostly new prompts, so every step pays target calls."""

    def fingerprint(self) -> str:
        return "hash-tagger"

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        out = []
        for r in requests:
            h = int(hashlib.sha256(f"{r.prompt}|{r.sample_id}".encode()).hexdigest(), 16)
            out.append(Generation((tags(self.prompts[h % len(self.prompts)]),), 10, 5))
        return out


REVIEWS = [
    ("a wonderful, moving film", "positive"),
    ("great acting and a clever plot", "positive"),
    ("I loved every minute", "positive"),
    ("a triumph of style", "positive"),
    ("funny, warm and smart", "positive"),
    ("a dull, boring mess", "negative"),
    ("terrible acting and no plot", "negative"),
    ("I hated every minute", "negative"),
    ("a tedious waste of time", "negative"),
    ("clumsy, loud and empty", "negative"),
]


def review_task_spec(
    folder: Path, splits: str = "{train: 8, dev: 6, test: 6}", copies: int = 2, flipped: bool = False
) -> str:
    """A custom classification task (`copies` x the 10 reviews) written to `folder`, as `--task` takes it.

    `flipped` swaps every label: a task a real model gets wrong, for methods that learn from errors.
    """
    swap = {"positive": "negative", "negative": "positive"} if flipped else {}
    data = folder / "reviews.csv"
    data.write_text("text,label\n" + "".join(f'"{t}",{swap.get(y, y)}\n' for t, y in REVIEWS * copies))
    spec = folder / "reviews.yaml"
    spec.write_text(
        f"file: reviews.csv\nsplits: {splits}\ninput_column: text\ntarget_column: label\n"
        'labels: [negative, positive]\ntemplate: "{prompt}\\nReview: {input}\\nSentiment:"\n'
    )
    return f"custom:{spec}"


def run_quick(
    method: str,
    optimizer: str,
    folder: Path,
    monkeypatch: Any,
    replies: Sequence[str],
    **overrides: Any,
) -> dict[str, Any]:
    """A `quick` run of `method` through the recipe into `folder/run`: tiny random target, and as optimiser
    either the tiny random model ("tiny-random": its replies never parse) or a TaggingModel cycling
    through `replies` ("tagging"); a prompt-LM method gets `optimizer` as its prompt-LM ("tiny-random").
    Returns result.json's content (checked equal to what `run` returned).
    """
    from promptflux import recipe
    from promptflux.optimizers import context

    real_load = context.load_model

    def load(spec: str, options: Any) -> LanguageModel:
        return TaggingModel(list(replies)) if spec == "tagging" else real_load(spec, options)

    monkeypatch.setattr(context, "load_model", load)
    spec = recipe.make_spec(
        method,
        "quick",
        overrides,
        task=review_task_spec(folder),
        target="tiny-random",
        optimizer_model=optimizer,
        prompt_lm=optimizer,  # dropped for methods without a prompt-LM
    )
    result = recipe.run(spec, folder / "run", cache=OutputCache(folder / "cache.sqlite"))
    assert json.loads((folder / "run" / "result.json").read_text()) == result
    return result
