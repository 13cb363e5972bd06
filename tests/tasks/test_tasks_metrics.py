"""Metrics on hand-written cases, including the ones that must score 0."""

from __future__ import annotations

import pytest

from promptflux.tasks.metrics import (
    METRICS,
    bbh_match,
    contains,
    exact_match,
    exact_set,
    f1,
    normalize,
    numeric_match,
    option_match,
)
from promptflux.types import Example


def ex(target: str, *answers: str) -> Example:
    return Example(id="t/0", input="x", target=target, answers=tuple(answers))


def test_normalize_is_squad_style() -> None:
    assert normalize("  The  Quick, brown fox!  ") == "quick brown fox"
    assert normalize("An apple a day") == "apple day"


@pytest.mark.parametrize(
    ("prediction", "example", "expected"),
    [
        ("The Dog.", ex("dog"), 1.0),
        ("dogs", ex("dog"), 0.0),
        ("Zeiten", ex("Zeit", "Zeit", "Zeiten"), 1.0),  # any accepted answer counts
        ("Uhr", ex("Zeit", "Zeit", "Zeiten"), 0.0),
        (") ]", ex(") ]"), 1.0),  # punctuation-only answers are not normalised away
        ("", ex(") ]"), 0.0),
        ("", ex("dog"), 0.0),
    ],
)
def test_exact_match(prediction: str, example: Example, expected: float) -> None:
    assert exact_match(prediction, example) == expected


def test_contains_is_whole_word() -> None:
    assert contains("I would say big.", ex("big")) == 1.0
    assert contains("bigger", ex("big")) == 0.0
    assert contains("huge", ex("big", "large", "big")) == 0.0


def test_f1() -> None:
    assert f1("the cat sat", ex("cat sat down")) == pytest.approx(0.8)
    assert f1("dog", ex("cat")) == 0.0
    assert f1("", ex("cat")) == 0.0
    assert f1("involve going up", ex("involve oscillations", "involve going up")) == 1.0


def test_exact_set_ignores_order_and_separators() -> None:
    assert exact_set("cat, dog", ex("dog cat")) == 1.0
    assert exact_set("Dog,cat,", ex("cat, dog")) == 1.0
    assert exact_set("cat", ex("cat, dog")) == 0.0
    assert exact_set("cat, dog, cow", ex("cat, dog")) == 0.0


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("So the answer is 1,250.", "1250", 1.0),
        ("She pays $18.00 in total", "18", 1.0),
        ("It drops to -5", "-5", 1.0),
        ("12 apples, then 13", "12", 0.0),  # only the last number counts
        ("no idea", "3", 0.0),
        ("5", "-5", 0.0),
    ],
)
def test_numeric_match(prediction: str, target: str, expected: float) -> None:
    assert numeric_match(prediction, ex(target)) == expected


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("(B)", 1.0),
        ("B", 1.0),
        ("B. Fred", 1.0),
        ("The answer is (B).", 1.0),
        ("Answer: B", 1.0),
        ("(A)", 0.0),
        ("Bob", 0.0),  # a word starting with B is not the letter B
        ("Fred", 0.0),  # option text without its letter is not mapped back
        ("", 0.0),
    ],
)
def test_option_match(prediction: str, expected: float) -> None:
    assert option_match(prediction, ex("(B)")) == expected


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("No, you end up elsewhere.", "No", 1.0),
        ("Yes", "No", 0.0),
        ("invalid", "valid", 0.0),
        ("**valid**", "valid", 1.0),
        ("-50.", "-50", 1.0),
        ("50", "-50", 0.0),
        (") ] }", ") ] }", 1.0),
        ("", ") ] }", 0.0),
        ("apple banana cherry", "apple banana cherry", 1.0),
        ("apple cherry banana", "apple banana cherry", 0.0),
        ("Let me think. So the answer is 24.", "24", 1.0),
        ("B", "(B)", 1.0),
        ("(C)", "(B)", 0.0),
    ],
)
def test_bbh_match(prediction: str, target: str, expected: float) -> None:
    assert bbh_match(prediction, ex(target)) == expected


def test_metric_map_names_every_metric() -> None:
    assert {"exact_match", "contains", "f1", "exact_set", "numeric_match"} <= set(METRICS)
    assert all(callable(m) for m in METRICS.values())
