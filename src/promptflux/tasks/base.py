"""A task = examples in named splits + how (prompt, input) becomes a model request + how output is scored.

Two kinds cover the benchmarks: classification by verbalizer log-probabilities (RLPrompt / GFlowPO
style: one forward pass, argmax over label continuations) and generation scored by a metric
(instruction induction, BBH, GSM8K: greedy decode, then exact match / F1 / contains / exact-set).
A generation task may take a second round (`Task.follow_up`): the evaluator sends it after the first
answer and scores the second.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from promptflux.errors import ConfigError
from promptflux.types import (
    Example,
    Generation,
    GenRequest,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)

Metric = Callable[[str, Example], float]
"""Scores one model prediction against an example's accepted answers, in [0, 1]."""


@dataclass(frozen=True)
class Template:
    """How an instruction and an input are joined into the target's input text.

    `text` holds the placeholders {prompt} and {input}. An empty prompt leaves no stray whitespace,
    so "no instruction" renders as "Input : x Output:". chat=True sends the text as a user turn
    through the target's chat template.

    `demos` is a block of rendered demonstrations (`Task.with_demos`), part of every request: after the
    instruction when the template puts the instruction before the input, else before everything, so the
    demonstrations always come before the input they show how to answer.
    """

    text: str = "{prompt} Input : {input} Output:"
    chat: bool = False
    demos: str = ""

    def render(self, prompt: str, input: str) -> str:
        prompt = prompt.strip()
        if self.demos:
            plain = replace(self, demos="")
            if "{prompt}" in self.text and self.text.index("{prompt}") < self.text.index("{input}"):
                return plain.render("\n\n".join(p for p in (prompt, self.demos) if p), input)
            return self.demos + "\n\n" + plain.render(prompt, input)
        text = self.text
        if not prompt:
            # Drop the instruction together with the whitespace that separated it from its neighbour.
            head, _, tail = text.partition("{prompt}")
            text = head + tail.lstrip(" \n") if (not head or head[-1].isspace()) else head + tail
            text = text.rstrip() if not tail.strip() else text
        values = {"prompt": prompt, "input": input}
        # One pass, so braces inside the prompt or the input are never read as placeholders.
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    def demo(self, input: str, answer: str) -> str:
        """One demonstration in the template's own format: the input as the target sees it with no
        instruction, then the answer where the target writes its own ("...Sentiment: positive"). A
        template that does not end on a cue (a colon) gets "Answer:" before the answer."""
        shown = replace(self, demos="").render("", input).rstrip()
        return shown + (" " if shown.endswith(":") else "\nAnswer: ") + answer.strip()


_PLACEHOLDER = re.compile(r"\{(prompt|input)\}")


class Task(ABC):
    """Examples with splits, rendering and scoring. Subclasses decide the request kind."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Sequence[Example]],
        template: Template,
        description: str = "",
    ) -> None:
        self.name = name
        self.splits = {k: list(v) for k, v in splits.items()}
        self.template = template
        self.description = description
        self.demos: tuple[Example, ...] = ()  # demonstrations shown in every request (with_demos)

    def split(self, name: str) -> list[Example]:
        if name not in self.splits:
            raise ConfigError(
                f"task {self.name!r} has no split {name!r}; available: {', '.join(sorted(self.splits))}"
            )
        return self.splits[name]

    @abstractmethod
    def request(self, prompt: str, example: Example) -> ScoreRequest | GenRequest:
        """The model request that evaluates `prompt` on `example`."""

    @abstractmethod
    def score(self, example: Example, output: ScoreResult | Generation) -> float:
        """Score in [0, 1] of the model's output for `example`."""

    @abstractmethod
    def predict(self, output: ScoreResult | Generation) -> str:
        """The prediction as text (the chosen label, or the generated answer)."""

    def demo_answer(self, example: Example) -> str:
        """The answer a demonstration shows for `example` (the canonical target)."""
        return example.target

    def with_demos(self, demos: Sequence[Example]) -> Task:
        """This task with `demos` rendered into every request (in the template's own format), the same
        examples, scoring and decoding; no demos gives back the task itself. The demonstrations become
        part of the rendered text, so cache keys, budgets and exports see them like the instruction."""
        if not demos:
            return self
        other = copy.copy(self)
        block = "\n\n".join(self.template.demo(ex.input, self.demo_answer(ex)) for ex in demos)
        other.template = replace(self.template, demos=block)
        other.demos = tuple(demos)
        return other

    @property
    def rounds(self) -> int:
        """Model calls per (prompt, example): 2 when `follow_up` continues the conversation."""
        return 1

    def follow_up(self, prompt: str, example: Example, first: ScoreResult | Generation) -> GenRequest | None:
        """The second-round request after the model answered `request(prompt, example)` with `first`.

        None for one-round tasks. When it is a request, its output (not `first`) is what `score` and
        `predict` judge.
        """
        return None

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return f"{type(self).__name__}({self.name!r}, {sizes})"


class ClassificationTask(Task):
    """Verbalizer classification: the label whose continuation has the highest log-probability wins."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Sequence[Example]],
        labels: Sequence[str],
        template: Template = Template(),
        description: str = "",
    ) -> None:
        super().__init__(name, splits, template, description)
        if len(labels) < 2:
            raise ConfigError(
                f"task {name!r}: a classification task needs at least 2 labels, got {list(labels)}"
            )
        self.labels = tuple(labels)
        # A leading space makes each label one natural word token after "Output:".
        self.continuations = tuple(" " + label.strip() for label in labels)

    def demo_answer(self, example: Example) -> str:
        """A demonstration shows the verbalizer label, as the target is scored on it."""
        return self.labels[example.label] if example.label is not None else example.target

    def request(self, prompt: str, example: Example) -> ScoreRequest:
        return ScoreRequest(
            context=self.template.render(prompt, example.input),
            continuations=self.continuations,
            chat=self.template.chat,
        )

    def predict(self, output: ScoreResult | Generation) -> str:
        assert isinstance(output, ScoreResult), "classification tasks score log-probabilities"
        best = max(range(len(output.logprobs)), key=output.logprobs.__getitem__)
        return self.labels[best]

    def score(self, example: Example, output: ScoreResult | Generation) -> float:
        return float(self.predict(output) == self.labels[example.label])


class GenerationTask(Task):
    """Free generation (greedy by default) scored by a metric against the accepted answers.

    One round by default. With `answer_turn` (a user message asking for the final answer in the task's
    format) it takes two, as GPO scores prompts: round 1 answers freely with `first_round` (room to
    reason), round 2 continues the same chat with `answer_turn` and is decoded with `params`; only the
    round-2 reply is scored, so long reasoning never hides the answer from the metric.
    """

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Sequence[Example]],
        metric: Metric,
        template: Template = Template("{prompt}\n\nInput: {input}\nOutput:"),
        params: SamplingParams = SamplingParams(max_new_tokens=50, stop=("\n",)),
        description: str = "",
        *,
        answer_turn: str | None = None,
        first_round: SamplingParams = SamplingParams(max_new_tokens=256),
    ) -> None:
        super().__init__(name, splits, template, description)
        if answer_turn is not None and (not answer_turn.strip() or not template.chat):
            raise ConfigError(
                f"task {name!r}: a two-round task needs a non-empty answer_turn and a chat template "
                "(the answer turn continues the conversation)"
            )
        self.metric = metric
        self.params = params
        self.answer_turn = answer_turn
        self.first_round = first_round

    @property
    def rounds(self) -> int:
        return 1 if self.answer_turn is None else 2

    def request(self, prompt: str, example: Example) -> GenRequest:
        return GenRequest(
            prompt=self.template.render(prompt, example.input),
            params=self.params if self.answer_turn is None else self.first_round,
            chat=self.template.chat,
        )

    def follow_up(self, prompt: str, example: Example, first: ScoreResult | Generation) -> GenRequest | None:
        if self.answer_turn is None:
            return None
        assert isinstance(first, Generation), "generation tasks continue after generated text"
        opening = self.request(prompt, example)
        return GenRequest(
            prompt=self.answer_turn,
            params=self.params,
            chat=True,
            system=opening.system,
            history=(*opening.history, (opening.prompt, first.text.strip())),
        )

    def predict(self, output: ScoreResult | Generation) -> str:
        assert isinstance(output, Generation), "generation tasks score generated text"
        return output.text.strip()

    def score(self, example: Example, output: ScoreResult | Generation) -> float:
        return float(self.metric(self.predict(output), example))
