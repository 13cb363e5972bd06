"""Meta-prompts: section order, 0-100 scores worst first, limit sentence, styles, reflection, retries."""

from __future__ import annotations

import pytest

from promptflux.optimizers.gpo import (
    DEFAULT_PLACEMENT_NOTE,
    TrajectoryEntry,
    format_score,
    refinement_prompt,
    reflection_prompt,
    retry_note,
    summarization_prompt,
)

RETRIEVED = [
    TrajectoryEntry("Answer quickly.", 0.8125, 2),
    TrajectoryEntry("Let's think step by step.", 0.25, 0),
    TrajectoryEntry("Think, then answer.", 0.5, 1),
]
EXAMPLES = [("2 + 2 = ?", "4"), ("Capital of France?", "Paris")]


def build(**overrides) -> str:
    args = {
        "style": "generation",
        "retrieved": RETRIEVED,
        "current": "Think, then answer.",
        "examples": EXAMPLES,
        "limit": 10,
        "reflection": None,
        "placement_note": DEFAULT_PLACEMENT_NOTE,
    }
    return refinement_prompt(**{**args, **overrides})


def test_sections_come_in_the_papers_order():
    text = build(reflection="It ignores units.")
    markers = [
        "<Prompt>",  # the job names the placeholder first
        "0 to 100 (higher is better)",
        "Prompt: Let's think step by step.",
        "Current prompt:\nThink, then answer.",
        f"How the prompt is used: {DEFAULT_PLACEMENT_NOTE}",
        "Input: 2 + 2 = ?\n<Prompt>\nOutput: 4",
        "Input: Capital of France?\n<Prompt>\nOutput: Paris",
        "It ignores units.",
        "write a new prompt",
        "You may change up to 10 words.",
        "<START> and <END>",
    ]
    positions = [text.index(m) for m in markers]
    assert positions == sorted(positions)


def test_scores_are_on_a_0_to_100_scale_worst_first():
    text = build()
    assert [format_score(s) for s in (0.25, 0.5, 0.8125, 1.0, 0.41666)] == [
        "25.0",
        "50.0",
        "81.2",
        "100.0",
        "41.7",
    ]
    order = [text.index(f"Score: {s}") for s in ("25.0", "50.0", "81.2")]
    assert order == sorted(order)
    assert text.index("Let's think step by step.\nScore: 25.0") < text.index("Answer quickly.\nScore: 81.2")
    assert "0.25" not in text


def test_limit_sentence_only_with_a_limit():
    assert "You may change up to 10 words." in build()
    assert "You may change up to 1 word." in build(limit=1)
    assert "You may change" not in build(limit=None)


def test_editing_and_generation_ask_for_different_things():
    generation, editing = build(style="generation"), build(style="editing")
    assert generation != editing
    assert "write a new prompt" in generation and "Revise the current prompt" in editing
    assert "Revise the current prompt" not in generation
    with pytest.raises(ValueError, match="refinement style"):
        build(style="rewrite")


def test_reflection_is_optional_and_examples_may_be_empty():
    assert "gets some examples wrong" not in build()
    text = build(examples=[])
    assert "Input:" not in text and "Examples of the task" not in text


def test_summary_replaces_the_retrieved_list():
    text = build(retrieved=[], summary="Short prompts that ask for a final number do best.")
    assert "Short prompts that ask for a final number do best." in text
    assert "Score:" not in text
    assert text.index("final number") < text.index("Current prompt:")
    with pytest.raises(ValueError, match="not both"):
        build(summary="x")
    with pytest.raises(ValueError, match="needs retrieved"):
        build(retrieved=[])


def test_reflection_prompt_lists_the_wrong_examples():
    text = reflection_prompt("Answer quickly.", [("2 + 3 = ?", "6", "5"), ("3 * 3 = ?", "6", "9")])
    assert "Prompt:\nAnswer quickly." in text
    assert "Example 1\nInput: 2 + 3 = ?\nModel output: 6\nCorrect answer: 5" in text
    assert "Example 2\nInput: 3 * 3 = ?" in text
    assert "do not write a new prompt" in text
    with pytest.raises(ValueError):
        reflection_prompt("Answer quickly.", [])


def test_summarization_prompt_lists_entries_worst_first():
    text = summarization_prompt(RETRIEVED)
    assert text.index("Score: 25.0") < text.index("Score: 50.0") < text.index("Score: 81.2")
    assert "summary" in text.lower()
    with pytest.raises(ValueError):
        summarization_prompt([])


def test_retry_notes():
    assert retry_note("over_limit", changed=23, limit=10).startswith(
        "Your previous answer changed 23 words of the current prompt; the limit is 10."
    )
    assert retry_note("no_tags") == "Wrap the prompt in <START> and <END>."
    assert "<END>" in retry_note("unterminated")
    assert "nothing between" in retry_note("empty")
    assert "under 200 words" in retry_note("too_long", max_words=200)
    with pytest.raises(ValueError, match="changed"):
        retry_note("over_limit")
    with pytest.raises(ValueError, match="unknown"):
        retry_note("bored")  # type: ignore[arg-type]
