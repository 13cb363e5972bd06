"""word_edit_distance: word-level Levenshtein on whitespace tokens."""

from __future__ import annotations

import pytest

from promptflux.optimizers.gpo import within_limit, word_edit_distance


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("Let's think step by step.", "Let's think step by step.", 0),
        ("Let's think step by step.", "  Let's   think step\nby step.  ", 0),  # whitespace is free
        ("think step by step", "think carefully step by step", 1),  # insert
        ("think carefully step by step", "think step by step", 1),  # delete
        ("think step by step", "reason step by step", 1),  # substitute
        ("a b c", "x y z", 3),
        ("a b c", "a c b", 2),
        ("", "one two three", 3),
        ("step.", "step", 1),  # punctuation stays attached to its word
        ("Step", "step", 1),  # case matters
    ],
)
def test_word_edit_distance(a, b, expected):
    assert word_edit_distance(a, b) == expected
    assert word_edit_distance(b, a) == expected


def test_within_limit():
    assert within_limit("a b c", "a x c", 1)
    assert not within_limit("a b c", "x y c", 1)
    assert within_limit("a b c", "totally different words here", None)
