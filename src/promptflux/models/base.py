"""The one interface every optimizer and the evaluator use to talk to a language model.

A backend implements `_generate` and `_score` over whole batches; the public methods validate the
batch and keep a running `usage` tally. Batching across prompts and examples is the caller's job:
pass everything you have in one call and let the backend chunk it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult, Usage


class LanguageModel(ABC):
    """A text-in / text-out model that can also score continuations.

    `name` is what the user typed (e.g. "smollm2"); `fingerprint()` identifies everything that can
    change an answer (weights, dtype, adapter state) and goes into cache keys.
    """

    name: str
    supports_scoring: bool = True

    def __init__(self) -> None:
        self.usage = Usage()

    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]: ...

    @abstractmethod
    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]: ...

    def generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        if not requests:
            return []
        out = self._generate(list(requests))
        self._tally(
            len(requests),
            sum(g.prompt_tokens for g in out),
            sum(g.completion_tokens for g in out),
        )
        return out

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        if not requests:
            return []
        out = self._score(list(requests))
        self._tally(len(requests), sum(r.prompt_tokens for r in out), 0)
        return out

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release servers, sessions or GPU memory held by the backend."""

    def _tally(self, calls: int, prompt_tokens: int, completion_tokens: int) -> None:
        u = self.usage
        self.usage = Usage(
            u.calls + calls,
            u.prompt_tokens + prompt_tokens,
            u.completion_tokens + completion_tokens,
        )

    def __enter__(self) -> LanguageModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chat_messages(text: str, system: str | None, history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """A request as chat-template messages: optional system turn, earlier (user, assistant) pairs, `text`."""
    messages = [{"role": "system", "content": system}] if system else []
    for user, assistant in history:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": text})
    return messages


def plain_conversation(text: str, system: str | None, history: Sequence[tuple[str, str]]) -> str:
    """The same turns for a model without a chat template: joined by blank lines."""
    return "\n\n".join([*([system] if system else []), *(t for turn in history for t in turn), text])


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to the first stop string (all of it when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]
