"""Word-level edit distance: how the edit limit ("you may change up to N words") is checked.

A word is a whitespace-separated token, so punctuation stays attached ("step." differs from "step") and
changing whitespace alone costs nothing. Each inserted, deleted or replaced word counts one.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein


def word_edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between the word sequences of `a` and `b`."""
    return int(Levenshtein.distance(a.split(), b.split()))


def within_limit(old: str, new: str, limit: int | None) -> bool:
    """Whether `new` changes at most `limit` words of `old` (always true without a limit)."""
    return limit is None or word_edit_distance(old, new) <= limit
