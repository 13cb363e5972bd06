"""Typed requests and responses that cross every boundary (task -> LM -> evaluator -> optimizer).

Plain frozen dataclasses so requests can be hashed, cached and batched across prompts and examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from promptflux.errors import ConfigError


class Role(str, Enum):
    """Who a model call is charged to: one budget counter and one ledger role each.

    target     the model whose prompt is optimised, during the search
    optimizer  the LLM or prompt-LM that proposes prompts
    selection  validation and test scoring after the search (outside the search budget)

    A Role is its value wherever a string is expected (dict keys, f-strings, JSON, SQLite).
    """

    TARGET = "target"
    OPTIMIZER = "optimizer"
    SELECTION = "selection"

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__


@dataclass(frozen=True)
class Example:
    """One labelled example of a task.

    `target` is the canonical answer; `answers` lists every accepted answer (instruction-induction
    translations, word-in-context variants); metrics compare against `answers or (target,)`.
    For classification tasks `label` is the class index into the task's verbalizer.
    """

    id: str
    input: str
    target: str
    answers: tuple[str, ...] = ()
    label: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def accepted(self) -> tuple[str, ...]:
        return self.answers or (self.target,)


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters. temperature == 0 means greedy (deterministic, cacheable without a sample id)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class GenRequest:
    """Generate a continuation of `prompt`.

    chat=True wraps `prompt` as one user turn with the model's chat template (when it has one), with
    `system` as the system turn. `history` holds earlier (user, assistant) turns that come before
    `prompt`, so a conversation can continue after the model's own reply (two-round scoring); it needs
    chat=True. `prefill` is the start of the reply, written for the model (e.g. an answer tag a small
    model would not write itself): backends that can continue a reply generate after it and return it as
    part of the text; chat APIs that cannot send the request without it, so `Generation.text` is the
    whole reply either way. `n` samples are drawn; `sample_id` distinguishes repeated sampled calls on
    the same input so a cache never serves a stale sample.
    """

    prompt: str
    params: SamplingParams = SamplingParams()
    chat: bool = True
    system: str | None = None
    n: int = 1
    sample_id: int = 0
    history: tuple[tuple[str, str], ...] = ()
    prefill: str = ""

    def __post_init__(self) -> None:
        # Tuples all the way down, so the request stays hashable when a caller passes lists.
        history = tuple(tuple(turn) for turn in self.history)
        if any(len(turn) != 2 or not all(isinstance(t, str) for t in turn) for turn in history):
            raise ConfigError("GenRequest.history must hold (user, assistant) pairs of strings")
        if history and not self.chat:
            raise ConfigError(
                "GenRequest.history needs chat=True: earlier turns only exist in a chat conversation"
            )
        object.__setattr__(self, "history", history)


@dataclass(frozen=True)
class Generation:
    texts: tuple[str, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def text(self) -> str:
        return self.texts[0]


@dataclass(frozen=True)
class ScoreRequest:
    """Log-probability of each continuation after `context` (e.g. verbalizer labels after an input).

    chat=True renders `context` as a user turn plus the assistant header, so continuations are scored
    as the start of the model's reply.
    """

    context: str
    continuations: tuple[str, ...]
    chat: bool = False
    system: str | None = None


@dataclass(frozen=True)
class ScoreResult:
    logprobs: tuple[float, ...]  # one summed log-probability per continuation
    prompt_tokens: int = 0


@dataclass(frozen=True)
class Usage:
    """What one batch of LM calls cost; backends return it, budgets consume it."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
