"""parse_prompt: text between the first complete <START>/<END> pair, each failure kind and its retry note."""

from __future__ import annotations

import pytest

from promptflux.optimizers.components.parsing import Parsed, parse_prompt, parse_retry_note


@pytest.mark.parametrize(
    ("reply", "prompt"),
    [
        ("<START>Think it through.<END>", "Think it through."),
        ("Sure! Here it is:\n<START>\n  Think it through.\n<END>\nGood luck.", "Think it through."),
        ("<start>Think it through.</end>", "Think it through."),
        ("< START >Think it through.< End >", "Think it through."),
        ('<START>"Think it through."<END>', "Think it through."),
        ("<START> ' “Think it through.” ' <END>", "Think it through."),
        ("<START>'Let's think.'<END>", "Let's think."),
        ('<START>"Yes" or "No": answer with one.<END>', '"Yes" or "No": answer with one.'),
        ("<START>first<END> and <START>second<END>", "first"),
        ("<START> <START>inner<END>", "inner"),
        ("<START>two\nlines<END>", "two\nlines"),
    ],
)
def test_parsed_prompts(reply, prompt):
    parsed = parse_prompt(reply)
    assert parsed == Parsed(prompt, None)
    assert parsed.ok


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        ("Think it through.", "no_tags"),
        ("Think it through.<END>", "no_tags"),
        ("<START>Think it through, and then", "unterminated"),
        ("<END> oops <START>Think it", "unterminated"),
        ("<START>   <END>", "empty"),
        ('<START>""<END>', "empty"),
    ],
)
def test_failures(reply, failure):
    parsed = parse_prompt(reply)
    assert parsed == Parsed(None, failure)
    assert not parsed.ok


def test_an_unterminated_reply_gives_its_first_line_only_when_asked_to():
    reply = "<START>\n\n  Classify the review.  \nReview: a dull film\nSentiment: negative"
    assert parse_prompt(reply) == Parsed(None, "unterminated")
    assert parse_prompt(reply, accept_unterminated=True) == Parsed("Classify the review.", None)
    assert parse_prompt("<START>Closed.<END> rest", accept_unterminated=True).prompt == "Closed."
    assert parse_prompt("<START>\n \n", accept_unterminated=True) == Parsed(None, "empty")
    assert parse_prompt("no tags at all", accept_unterminated=True) == Parsed(None, "no_tags")
    assert parse_prompt("<START>" + " w" * 11, 10, accept_unterminated=True) == Parsed(None, "too_long")


def test_too_long():
    words = " ".join(["word"] * 11)
    assert parse_prompt(f"<START>{words}<END>", max_words=10) == Parsed(None, "too_long")
    assert parse_prompt(f"<START>{words}<END>", max_words=11).prompt == words
    assert parse_prompt(f"<START>{' '.join(['w'] * 201)}<END>").failure == "too_long"


def test_every_failure_has_its_own_retry_note():
    assert parse_retry_note("no_tags") == "Wrap the prompt in <START> and <END>."
    assert "cut off" in parse_retry_note("unterminated")
    assert "nothing between" in parse_retry_note("empty")
    assert "under 40 words" in parse_retry_note("too_long", max_words=40)
    assert "keep it short" in parse_retry_note("too_long")
    with pytest.raises(ValueError, match="unknown"):
        parse_retry_note("bored")  # type: ignore[arg-type]
