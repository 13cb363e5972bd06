"""Metrics: plain callables `(prediction, example) -> float in [0, 1]`, best over `example.accepted`.

Normalisation follows the SQuAD evaluation script's idea (lowercase, drop punctuation, drop the articles
a/an/the, collapse whitespace) so that "The dog." and "dog" agree. When an accepted answer is made of
punctuation only (e.g. a Dyck-language closing sequence ") ] }"), SQuAD normalisation would erase it
and make every empty prediction correct; those answers are compared after lowercasing and collapsing
whitespace only.

`option_match` and `bbh_match` cover multiple-choice style answers ("(B)"), see their docstrings.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

from promptflux.tasks.base import Metric
from promptflux.types import Example

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """SQuAD-style normal form: lowercase, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _light(text: str) -> str:
    return " ".join(text.lower().split())


def _pair(prediction: str, answer: str) -> tuple[str, str]:
    """Normalise both sides; fall back to light normalisation for punctuation-only answers."""
    norm_answer = normalize(answer)
    if norm_answer:
        return normalize(prediction), norm_answer
    return _light(prediction), _light(answer)


def _best(prediction: str, example: Example, one: Callable[[str, str], float]) -> float:
    return max((one(prediction, answer) for answer in example.accepted), default=0.0)


def exact_match(prediction: str, example: Example) -> float:
    """1 if the normalised prediction equals a normalised accepted answer."""

    def one(pred: str, answer: str) -> float:
        p, a = _pair(pred, answer)
        return float(bool(a) and p == a)

    return _best(prediction, example, one)


def contains(prediction: str, example: Example) -> float:
    """1 if a normalised accepted answer occurs in the normalised prediction as whole words.

    Whole-word containment (not raw substring) so that the answer "cat" is not found in "concatenate".
    """

    def one(pred: str, answer: str) -> float:
        p, a = _pair(pred, answer)
        return float(bool(a) and f" {a} " in f" {p} ")

    return _best(prediction, example, one)


def f1(prediction: str, example: Example) -> float:
    """Token-level F1 between the normalised prediction and the best accepted answer."""

    def one(pred: str, answer: str) -> float:
        p_tokens, a_tokens = (s.split() for s in _pair(pred, answer))
        common = sum((Counter(p_tokens) & Counter(a_tokens)).values())
        if not p_tokens or not a_tokens or common == 0:
            return 0.0
        precision, recall = common / len(p_tokens), common / len(a_tokens)
        return 2 * precision * recall / (precision + recall)

    return _best(prediction, example, one)


def _items(text: str) -> frozenset[str]:
    parts = re.split(r"[,\s]+", text)
    return frozenset(filter(None, (normalize(part) for part in parts)))


def exact_set(prediction: str, example: Example) -> float:
    """1 if the prediction, read as comma/space-separated items, is the same set as an accepted answer.

    Order and repetition do not matter ("cat, dog" == "dog cat"); each item is normalised.
    """

    def one(pred: str, answer: str) -> float:
        gold = _items(answer)
        return float(bool(gold) and _items(pred) == gold)

    return _best(prediction, example, one)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _to_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def numeric_match(prediction: str, example: Example) -> float:
    """GSM8K: 1 if the last number in the prediction equals the target number (commas ignored).

    "The answer is $1,250." matches 1250; "1250.00" matches 1250; a prediction with no number scores 0.
    """
    found = _NUMBER.findall(prediction)
    value = _to_number(found[-1].rstrip(".")) if found else None
    if value is None:
        return 0.0
    golds = (_to_number(answer.strip()) for answer in example.accepted)
    return float(any(gold is not None and abs(gold - value) < 1e-6 for gold in golds))


_OPTION = re.compile(r"^\(([A-Z])\)$")
_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_BARE_LETTER = re.compile(r"^[\s*\"'`]*([A-Z])(?:[.):,\s*\"'`]|$)")
_ANSWER_IS = re.compile(r"\banswer(?:\s+is\s*:?|\s*:)\s*", re.IGNORECASE)


def _answer_span(prediction: str) -> str:
    """The part of a generation that states the answer: after the last "answer is"/"Answer:", if any."""
    pieces = _ANSWER_IS.split(prediction)
    return pieces[-1].strip() if len(pieces) > 1 and pieces[-1].strip() else prediction.strip()


def _chosen_letter(prediction: str) -> str | None:
    span = _answer_span(prediction)
    found = _PAREN_LETTER.search(span) or _BARE_LETTER.match(span)
    return found.group(1) if found else None


def option_match(prediction: str, example: Example) -> float:
    """Multiple choice with targets like "(C)": 1 if the prediction chooses that letter.

    The chosen letter is the first "(X)" in the answer span (the text after the last "answer is" /
    "Answer:", else the whole prediction), or else a bare capital letter opening the span ("C", "C.",
    "C) text"). Option text without its letter is not mapped back (scores 0).
    """
    letter = _chosen_letter(prediction)
    targets = {m.group(1) for m in map(_OPTION.match, (a.strip() for a in example.accepted)) if m}
    return float(letter is not None and letter in targets)


def _strip_answer(text: str) -> str:
    first_line = next((line for line in text.strip().splitlines() if line.strip()), "")
    return _light(first_line.strip().strip("*`\"' ").rstrip("."))


def _first_token(text: str) -> str:
    words = text.split()
    return words[0].strip("\"'`*").rstrip(".,;:!?") if words else ""


def bbh_match(prediction: str, example: Example) -> float:
    """BIG-Bench Hard: option letters via `option_match`; other targets by light exact match.

    Non-option targets (True/False, Yes/No, valid/invalid, numbers, sorted word lists, bracket
    sequences) compare lowercased and whitespace-collapsed, keeping punctuation because brackets are
    the answer in dyck_languages. The candidates are the first line of the answer span and of the
    whole prediction, without surrounding quotes/markdown and a final full stop. A one-word target
    also matches the first word of a candidate ("No, you end up elsewhere." is right for "No").
    """
    if any(_OPTION.match(answer.strip()) for answer in example.accepted):
        return option_match(prediction, example)
    lines = {_strip_answer(_answer_span(prediction)), _strip_answer(prediction)}
    firsts = {_first_token(line) for line in lines}
    for answer in (_light(a) for a in example.accepted if a.strip()):
        if answer in lines or (" " not in answer and answer in firsts):
            return 1.0
    return 0.0


METRICS: dict[str, Metric] = {
    "exact_match": exact_match,
    "contains": contains,
    "f1": f1,
    "exact_set": exact_set,
    "numeric_match": numeric_match,
    "option_match": option_match,
    "bbh_match": bbh_match,
}
"""Metric name -> callable, for task specs and configs."""
