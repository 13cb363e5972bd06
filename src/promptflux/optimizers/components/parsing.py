"""Extract the new prompt from an optimiser reply: the text between `<START>` and `<END>`.

Shared by every LLM-optimiser method (GPO, APE, OPRO), together with `parse_retry_note`, the sentence
appended to the request when a reply has to be asked for again.

Rules: tags are case-insensitive and may contain spaces (`< start >`); `</END>` also closes. The first
complete pair wins (the first `<END>` and the `<START>` nearest before it, so a stray repeated `<START>`
is skipped); surrounding whitespace and matching quotes are stripped. Failures, each with its own retry hint:

    no_tags        no <START> at all (or only an <END>)
    unterminated   <START> but no <END> after it, typically a reply cut at max_new_tokens
    empty          nothing left between the tags
    too_long       more than `max_words` words, most likely an explanation rather than a prompt
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ParseFailure = Literal["no_tags", "empty", "too_long", "unterminated"]

_START = re.compile(r"<\s*start\s*>", re.IGNORECASE)
_END = re.compile(r"<\s*/?\s*end\s*>", re.IGNORECASE)  # </END> too: models write it
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_QUOTE_PAIRS = (('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("`", "`"))


@dataclass(frozen=True)
class Parsed:
    """A parsed prompt, or why there is none: exactly one of the two fields is set."""

    prompt: str | None
    failure: ParseFailure | None

    @property
    def ok(self) -> bool:
        return self.prompt is not None


def parse_prompt(text: str, max_words: int = 200, accept_unterminated: bool = False) -> Parsed:
    """The prompt inside the first complete <START> ... <END> pair of `text`.

    With `accept_unterminated`, a reply that opens the tag but never closes it gives its first non-empty
    line after <START>: small local optimisers (SmolLM2-135M) write an instruction and ramble on.
    """
    starts = list(_START.finditer(text))
    if not starts:
        return Parsed(None, "no_tags")
    end = _END.search(text, starts[0].end())
    if end is None:
        if not accept_unterminated:
            return Parsed(None, "unterminated")
        rest = text[starts[0].end() :].splitlines()
        prompt = _strip_quotes(next((line for line in rest if line.strip()), ""))
        return _checked(prompt, max_words)
    start = [m for m in starts if m.end() <= end.start()][-1]
    return _checked(_strip_quotes(text[start.end() : end.start()]), max_words)


def _checked(prompt: str, max_words: int) -> Parsed:
    if not prompt:
        return Parsed(None, "empty")
    if len(prompt.split()) > max_words:
        return Parsed(None, "too_long")
    return Parsed(prompt, None)


def parse_retry_note(failure: ParseFailure, *, max_words: int | None = None) -> str:
    """One sentence appended to the request when the previous reply had no usable prompt.

    Each failure gets its own hint: telling a model that was cut off to add tags would not help it.
    """
    if failure == "too_long":
        bound = f" under {max_words} words" if max_words is not None else " short"
        return f"Your previous prompt was too long: keep it{bound}, and put only the prompt between the tags."
    notes = {
        "no_tags": "Wrap the prompt in <START> and <END>.",
        "unterminated": "Your previous answer was cut off before <END>: keep the prompt short and end it "
        "with <END>.",
        "empty": "Your previous answer had nothing between <START> and <END>: put the new prompt there.",
    }
    if failure not in notes:
        raise ValueError(f"unknown parse failure {failure!r}")
    return notes[failure]


def _strip_quotes(text: str) -> str:
    """Whitespace and quotes around the whole text, removed repeatedly ('" x "' -> 'x').

    A pair is only removed when it encloses everything: `"Yes" or "No"` keeps its quotes because the
    inner text has quotes of its own (apostrophes inside words, as in "Let's", do not count).
    """
    text = text.strip()
    while len(text) >= 2 and any(_encloses(text, a, b) for a, b in _QUOTE_PAIRS):
        text = text[1:-1].strip()
    return text


def _encloses(text: str, left: str, right: str) -> bool:
    if text[0] != left or text[-1] != right:
        return False
    inner = _APOSTROPHE.sub("", text[1:-1])
    return left not in inner and right not in inner
