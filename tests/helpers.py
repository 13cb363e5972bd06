"""Small builders shared by tests (tasks made in memory, so unit tests need no data files)."""

from __future__ import annotations

from promptflux.tasks.base import ClassificationTask, GenerationTask, Template
from promptflux.types import Example

POSITIVE = ["a wonderful, moving film", "great acting and a clever plot", "I loved every minute"]
NEGATIVE = ["a dull, boring mess", "terrible acting and no plot", "I hated every minute"]


def toy_sentiment_task() -> ClassificationTask:
    examples = [
        Example(id=f"toy/{i}", input=text, target=label, label=y)
        for i, (text, label, y) in enumerate(
            [(t, "positive", 1) for t in POSITIVE] + [(t, "negative", 0) for t in NEGATIVE]
        )
    ]
    return ClassificationTask(
        "toy-sentiment",
        {"train": examples, "test": examples},
        labels=("negative", "positive"),
        template=Template("{prompt}\nReview: {input}\nSentiment:"),
    )


def toy_generation_task() -> GenerationTask:
    examples = [
        Example(id=f"gen/{i}", input=w, target=w.upper()) for i, w in enumerate(["cat", "dog", "sun"])
    ]
    return GenerationTask(
        "toy-upper",
        {"train": examples},
        metric=lambda pred, ex: float(pred.strip() == ex.target),
    )
