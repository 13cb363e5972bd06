"""Meta-prompt: demonstrations only from the held-out pool, references only under DMU, robust extraction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from promptflux.errors import ConfigError
from promptflux.optimizers.components.meta_prompt import (
    MetaPromptBuilder,
    clean_reference,
    extract_instruction,
)
from tests.helpers import toy_sentiment_task

REFS = ["Judge the tone of the review.", "Is the reviewer happy?", "Label the review."]


@pytest.fixture
def splits():
    """The toy task's examples split into a demonstration pool and a disjoint training set."""
    examples = toy_sentiment_task().split("train")
    pool = [ex for i, ex in enumerate(examples) if i % 2 == 0]
    train = [ex for i, ex in enumerate(examples) if i % 2 == 1]
    return pool, train


def test_demos_come_only_from_the_pool_and_are_redrawn_each_call(splits):
    pool, train = splits
    builder = MetaPromptBuilder(pool, num_demos=2, train=train)
    rng = np.random.default_rng(0)
    metas = [builder.build(rng) for _ in range(10)]
    pool_ids = {ex.id for ex in pool}
    for meta in metas:
        assert len(meta.demos) == 2 and set(meta.demo_ids) <= pool_ids
        for ex in train:
            assert ex.input not in meta.text
        for ex in meta.demos:
            assert f"Input: {ex.input}\nOutput: {ex.target}" in meta.text
    assert len({m.demo_ids for m in metas}) > 1  # resampled per call
    assert MetaPromptBuilder(pool, num_demos=2).build(np.random.default_rng(0)).text == metas[0].text


def test_a_pool_that_overlaps_training_is_refused_or_filtered(splits):
    pool, train = splits
    with pytest.raises(ConfigError, match="also a training example"):
        MetaPromptBuilder(pool + train[:1], train=train)
    copy = replace(train[0], id="dev/copy")  # a duplicated sentence under another id
    builder = MetaPromptBuilder([*pool, copy], train=train)
    assert builder.dropped == ("dev/copy",) and copy not in builder.pool
    with pytest.raises(ConfigError, match="repeat a training input"):
        MetaPromptBuilder([copy], train=train)  # e.g. subj, whose dev file is its train file
    with pytest.raises(ConfigError, match="empty"):
        MetaPromptBuilder([])


def test_small_pool_shows_every_example_once(splits):
    pool, _ = splits
    meta = MetaPromptBuilder(pool, num_demos=5).build(np.random.default_rng(0))
    assert sorted(meta.demo_ids) == sorted(ex.id for ex in pool)
    assert f"{len(pool)} inputs" in meta.text


def test_references_appear_only_when_given(splits):
    pool, train = splits
    builder = MetaPromptBuilder(pool, num_demos=2, train=train)
    plain = builder.build(np.random.default_rng(0))
    assert plain.references == () and "for reference" not in plain.text and "1. " not in plain.text
    assert plain.text.endswith(builder.style.question)
    with_refs = builder.build(np.random.default_rng(0), references=REFS)
    assert sorted(with_refs.references) == sorted(REFS)
    numbered = "\n".join(f"{i}. {r}" for i, r in enumerate(with_refs.references, start=1))
    assert f"{builder.style.references_header}\n{numbered}\n\n{builder.style.question}" in with_refs.text


def test_references_are_shuffled_deterministically_under_a_seed(splits):
    pool, train = splits
    builder = MetaPromptBuilder(pool, num_demos=2, train=train)
    orders = [builder.build(np.random.default_rng(seed), references=REFS).references for seed in range(8)]
    assert orders == [builder.build(np.random.default_rng(s), references=REFS).references for s in range(8)]
    assert len(set(orders)) > 1


def test_shared_demos_and_event_summary(splits):
    pool, train = splits
    builder = MetaPromptBuilder(pool, num_demos=2, train=train)
    rng = np.random.default_rng(0)
    demos = builder.draw_demos(rng)
    a = builder.build(rng, demos=demos)
    b = builder.build(rng, references=REFS[:1], demos=demos)
    assert a.demo_ids == b.demo_ids == tuple(ex.id for ex in demos)
    assert b.to_event() == {"demo_ids": list(a.demo_ids), "references": [REFS[0]]}


def test_wording_is_our_own(splits):
    pool, _ = splits
    text = MetaPromptBuilder(pool).build(np.random.default_rng(0), references=REFS).text.lower()
    assert "i gave a friend an instruction" not in text
    assert "here are some reference instructions" not in text


def test_references_are_flattened_to_one_line():
    assert clean_reference("**Classify**  the\nreview.  ") == "Classify the review."


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (" Classify the review as positive or negative.\n", "Classify the review as positive or negative."),
        (' "Say if the review is positive." Then explain.', "Say if the review is positive."),
        (" “Rate the review.”", "Rate the review."),
        (' Answer "yes" or "no".', 'Answer "yes" or "no".'),
        (' "Unclosed quote', "Unclosed quote"),
        ("\nSecond line only", None),
        ('  ""', None),
        ("", None),
    ],
)
def test_extract_instruction(raw, want):
    assert extract_instruction(raw) == want
