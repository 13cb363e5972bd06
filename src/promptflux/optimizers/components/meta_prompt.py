"""The meta-prompt M: demonstrations of the task plus, under DMU, reference instructions.

The prompt-LM reads M as one user turn (its chat template is applied by the backend) and its reply
is pre-filled with `answer_prefix`, so sampling starts inside the reply, right where the instruction
goes. Layout (wording is ours):

    A friend of mine was handed one instruction together with 5 inputs. ...
    Input: <x1>
    Output: <y1>
    ... (k demonstrations, redrawn each step from a pool held apart from the training examples)
    Instructions that were written for this task before, for reference:   <- only under DMU
    1. <prompt>                                                             <- shuffled, one per line
    2. <prompt>
    3. <prompt>
    What was the instruction? ...
    [assistant turn] The instruction was: <sampled instruction> <newline or end of turn>

The instruction ends at the first newline (or end of turn); `extract_instruction` turns the sampled
text into the prompt: first line, stripped, surrounding double quotes removed, empty -> None.
Prefer a pool that is disjoint from the training set (classification: the `dev` split, which is
sorted by label upstream; the builder draws demonstrations at random, so order does not matter).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptflux.errors import ConfigError
from promptflux.types import Example


@dataclass(frozen=True)
class MetaPromptStyle:
    """The wording of the meta-prompt. `{count}` in `intro` becomes e.g. "5 inputs"."""

    intro: str = (
        "A friend of mine was handed one instruction together with {count}. After reading the "
        "instruction, my friend produced an output for each input. Below are the inputs, each "
        "followed by the output my friend wrote."
    )
    input_label: str = "Input:"
    output_label: str = "Output:"
    references_header: str = "Instructions that were written for this task before, for reference:"
    question: str = (
        "What was the instruction my friend received? Reply with the instruction alone, on a single line."
    )
    answer_prefix: str = "The instruction was:"


#: Named wordings (`meta_style` of the prompt-LM methods). "friend" is the default; "imperative"
#: asks for one imperative sentence and pre-fills "Instruction:". With Qwen2.5-Coder-0.5B as prompt-LM,
#: "friend" mostly drew a copy of a demonstration's output ("agitate", "Dramatically lackluster.") and
#: "imperative" drew instruction-shaped text ("convert an integer to a string.") on 5 of 5 II tasks.
META_STYLES: dict[str, MetaPromptStyle] = {
    "friend": MetaPromptStyle(),
    "imperative": MetaPromptStyle(
        question="What was the instruction my friend received? It is one short imperative sentence that "
        "says what to do with any input. Reply with the instruction alone, on a single line.",
        answer_prefix="Instruction:",
    ),
}


@dataclass(frozen=True)
class MetaPrompt:
    """A rendered meta-prompt and what went into it (for the event log)."""

    text: str
    answer_prefix: str
    demos: tuple[Example, ...]
    references: tuple[str, ...]  # in displayed order

    @property
    def demo_ids(self) -> tuple[str, ...]:
        return tuple(ex.id for ex in self.demos)

    def to_event(self) -> dict[str, Any]:
        """JSON-able summary: enough to rebuild the text with the same pool and style."""
        return {"demo_ids": list(self.demo_ids), "references": list(self.references)}


class MetaPromptBuilder:
    """Draws demonstrations from `pool` and renders meta-prompts; never shows a training example.

    With `train` given, a pool example with a training example's id is an error (the wrong split was
    passed); one that merely repeats a training input is left out (`dropped`), since duplicated
    sentences occur in real datasets. A pool left empty is an error.
    """

    def __init__(
        self,
        pool: Sequence[Example],
        num_demos: int = 5,
        *,
        train: Sequence[Example] = (),
        style: MetaPromptStyle = MetaPromptStyle(),
    ) -> None:
        if num_demos < 1:
            raise ConfigError(f"num_demos must be at least 1, got {num_demos}")
        train_ids = {ex.id for ex in train}
        train_inputs = {ex.input for ex in train}
        for ex in pool:
            if ex.id in train_ids:
                raise ConfigError(
                    f"demonstration {ex.id!r} is also a training example; draw demonstrations from a "
                    "split disjoint from training (e.g. dev)"
                )
        self.pool = [ex for ex in pool if ex.input not in train_inputs]
        self.dropped = tuple(ex.id for ex in pool if ex.input in train_inputs)
        if not self.pool:
            detail = f" (all {len(self.dropped)} repeat a training input)" if self.dropped else ""
            raise ConfigError(
                f"the demonstration pool is empty{detail}; GFlowPO needs held-out examples "
                "(RLPrompt classification tasks: --task-option dev=test holds a dev split out of test)"
            )
        self.num_demos = num_demos
        self.style = style

    def draw_demos(self, rng: np.random.Generator) -> tuple[Example, ...]:
        """min(num_demos, |pool|) distinct examples in random order."""
        k = min(self.num_demos, len(self.pool))
        return tuple(self.pool[i] for i in rng.choice(len(self.pool), size=k, replace=False))

    def build(
        self,
        rng: np.random.Generator,
        references: Sequence[str] = (),
        demos: Sequence[Example] | None = None,
    ) -> MetaPrompt:
        """Render M. New demonstrations are drawn unless `demos` is given (to share a step's demos across
        its micro-batches); `references` are shown shuffled and numbered, or not at all when empty.
        """
        shown = tuple(demos) if demos is not None else self.draw_demos(rng)
        if not shown:
            raise ConfigError("a meta-prompt needs at least one demonstration")
        refs = [r for r in map(clean_reference, references) if r]
        refs = [refs[i] for i in rng.permutation(len(refs))]
        s = self.style
        count = f"{len(shown)} input" + ("" if len(shown) == 1 else "s")
        blocks = [s.intro.replace("{count}", count)]
        blocks += [f"{s.input_label} {ex.input}\n{s.output_label} {ex.target}" for ex in shown]
        if refs:
            numbered = "\n".join(f"{i}. {r}" for i, r in enumerate(refs, start=1))
            blocks.append(f"{s.references_header}\n{numbered}")
        blocks.append(s.question)
        return MetaPrompt("\n\n".join(blocks), s.answer_prefix, shown, tuple(refs))


_SPACE = re.compile(r"\s+")
_OPENING_QUOTES = {'"': '"', "“": "”", "«": "»"}


def clean_reference(prompt: str) -> str:
    """One line per reference: collapse whitespace and drop markdown bold, which would break the list."""
    return _SPACE.sub(" ", prompt.replace("**", "")).strip()


def extract_instruction(raw: str) -> str | None:
    """The instruction in a sampled reply, or None when nothing usable was written.

    Keeps the first line only; a leading double quote is removed together with its closing quote and
    anything after it (an unquoted instruction may itself contain quotes, e.g. answer "yes" or "no").
    """
    text = raw.split("\n", 1)[0].strip()
    if text[:1] in _OPENING_QUOTES:
        end = text.find(_OPENING_QUOTES[text[0]], 1)
        text = text[1:end] if end > 0 else text[1:]
    text = text.strip()
    return text or None
