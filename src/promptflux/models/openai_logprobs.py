"""Log-prob alignment for the OpenAI-compatible backend: the log-prob of a continuation, read from a
server's `echo` + `logprobs` answer for context + continuation.

Servers return per-token log-probs over the echoed prompt; the continuation's tokens are found by
character offsets when the server gives them, else by the lengths of the token strings. Pure
functions: a malformed body raises TypeError/KeyError/ValueError.
"""

from __future__ import annotations

import math
from typing import Any


def _check_logprobs_shape(data: dict[str, Any]) -> None:
    choices = data["choices"]
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("'choices' is not a non-empty list of objects")


def _continuation_logprob(data: dict[str, Any], prompt: str, start: int) -> float | None:
    """Sum the echoed log-probs of the tokens that cover `prompt[start:]` (the continuation).

    None when the server returned no usable prompt log-probs. Raises ValueError when it did but the
    continuation cannot be located among the tokens.
    """
    choice = data["choices"][0]
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    tokens, logprobs, offsets = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
    if not (isinstance(tokens, list) and isinstance(logprobs, list) and tokens):
        return None
    if not all(isinstance(t, str) for t in tokens) or len(tokens) != len(logprobs):
        return None
    text = choice.get("text")
    span = _span_by_offsets(tokens, offsets, text, prompt, start)
    if span is None:
        span = _span_by_lengths(tokens, text, prompt, len(prompt) - start)
    if span is None:
        raise ValueError(f"cannot locate the continuation {prompt[start:]!r} among the echoed tokens")
    values = [logprobs[i] for i in span]
    if not values or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    return float(sum(values))


def _span_by_offsets(tokens: list[str], offsets: Any, text: Any, prompt: str, start: int) -> range | None:
    """Token indices covering [start, len(prompt)) by `text_offset` (character offsets into the prompt).

    Trusted only when the tokens spell out the echoed text exactly: llama.cpp drops special tokens from
    its offsets, and vLLM echoes a "<s>" the prompt does not contain. A token straddling `start` counts,
    so the continuation is always fully covered; the generated token (offset >= len(prompt)) does not.
    """
    if not (isinstance(text, str) and text.startswith(prompt) and "".join(tokens) == text):
        return None
    if not isinstance(offsets, list) or len(offsets) != len(tokens):
        return None
    end = len(prompt)
    idx = [
        i
        for i, (tok, off) in enumerate(zip(tokens, offsets))
        if isinstance(off, int) and off < end and off + max(len(tok), 1) > start
    ]
    return range(idx[0], idx[-1] + 1) if idx else None


def _span_by_lengths(tokens: list[str], text: Any, prompt: str, n_chars: int) -> range | None:
    """Token indices of the last `n_chars` characters of the prompt, counted back from the end.

    Skips the generated tokens first (they spell `text[len(prompt):]`); robust to special or BOS tokens
    in the context because it never looks at the context's tokens.
    """
    if not (isinstance(text, str) and text.startswith(prompt)):
        return None
    generated, i, acc = text[len(prompt) :], len(tokens), ""
    while len(acc) < len(generated) and i > 0:
        i -= 1
        acc = tokens[i] + acc
    if acc != generated:
        return None
    last, acc = i, ""
    while len(acc) < n_chars and i > 0:
        i -= 1
        acc = tokens[i] + acc
    if len(acc) < n_chars or not acc.endswith(prompt[len(prompt) - n_chars :]):
        return None
    return range(i, last)
