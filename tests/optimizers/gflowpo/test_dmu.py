"""DMU memories: the priority queue's ordering rules and the diverse pool's refresh rules."""

from __future__ import annotations

import json

import numpy as np

from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.dmu import (
    DiversePool,
    PriorityQueue,
    draw_references,
    jaccard_distance,
    maxmin_jaccard,
    word_set,
)
from promptflux.optimizers.gflowpo.replay import ReplayBuffer, ReplayEntry


def buffer_of(*texts: str, start: int = 0) -> ReplayBuffer:
    buffer = ReplayBuffer(capacity=100)
    for i, text in enumerate(texts):
        buffer.add(ReplayEntry(text, (1,), 0.5, (0.5,), -1.0, -1.0 - start - i, start + i))
    return buffer


def test_queue_orders_by_accuracy_then_shorter_then_earlier():
    q = PriorityQueue(capacity=5)
    q.push("a long prompt of medium accuracy", 0.5, step=1)
    q.push("short one", 0.8, step=2)
    q.push("a longer one with the same score", 0.8, step=3)
    q.push("same size", 0.8, step=4)  # same length as "short one" (9 chars): the earlier push wins
    assert q.texts == [
        "short one",
        "same size",
        "a longer one with the same score",
        "a long prompt of medium accuracy",
    ]


def test_queue_ignores_duplicates_and_keeps_capacity():
    q = PriorityQueue(capacity=2)
    assert q.push("x", 0.5, 0)
    assert not q.push("x", 0.9, 1)  # a known text is ignored, even with a higher accuracy
    assert not q.push("  ", 1.0, 1)
    assert q.push("y", 0.7, 2)
    assert q.push("z", 0.6, 3)  # evicts "x"
    assert not q.push("w", 0.1, 4)  # too weak to enter
    assert q.texts == ["y", "z"] and len(q) == 2


def test_queue_sample_and_state_round_trip():
    q = PriorityQueue(capacity=3)
    for i, acc in enumerate([0.1, 0.9, 0.5]):
        q.push(f"p{i}", acc, i)
    picks = q.sample(2, np.random.default_rng(0))
    assert len(set(picks)) == 2 and set(picks) <= set(q.texts)
    assert q.sample(10, np.random.default_rng(0)) != [] and len(q.sample(10, np.random.default_rng(0))) == 3
    restored = PriorityQueue.from_state(json.loads(json.dumps(q.state_dict())))
    assert restored.items == q.items
    assert restored.push("p9", 0.5, 9) == q.push("p9", 0.5, 9)
    assert restored.texts == q.texts


def test_frozen_pool_keeps_its_warmup_snapshot_while_live_follows_the_buffer():
    rng = np.random.default_rng(0)
    buffer = buffer_of("a", "b", "c")
    frozen = DiversePool("frozen")
    live = DiversePool("live", refresh_every=2)
    assert frozen.update(10, buffer, rng) and live.update(10, buffer, rng)  # end of warm-up
    buffer.extend(buffer_of("d", "e", start=3).entries)
    for step in (11, 12, 13):
        frozen.update(step, buffer, rng)
        live.update(step, buffer, rng)
        if step == 11:
            assert live.texts == ("a", "b", "c")  # refresh_every = 2: not yet
    assert frozen.texts == ("a", "b", "c") and frozen.last_refresh == 10
    assert live.texts == ("a", "b", "c", "d", "e") and live.last_refresh == 12


def test_frozen_pool_waits_for_a_non_empty_buffer():
    pool = DiversePool("frozen")
    rng = np.random.default_rng(0)
    assert not pool.update(0, ReplayBuffer(), rng)
    assert pool.update(1, buffer_of("a"), rng) and pool.texts == ("a",)


def test_sized_pool_uniform_and_maxmin_selection():
    rng = np.random.default_rng(0)
    buffer = buffer_of(
        "classify the sentiment of the review",
        "classify the sentiment of this review",
        "classify the sentiment of the reviews",
        "say whether the movie was liked",
    )
    uniform = DiversePool("live", size=2, selection="uniform")
    uniform.update(0, buffer, rng)
    assert len(uniform) == 2 and set(uniform.texts) <= {e.text for e in buffer}
    spread = DiversePool("live", size=2, selection="maxmin_jaccard")
    spread.update(0, buffer, rng)
    assert spread.texts == ("classify the sentiment of the review", "say whether the movie was liked")


def test_maxmin_jaccard_helpers():
    assert jaccard_distance(word_set("A b"), word_set("b, a!")) == 0.0
    assert jaccard_distance(word_set("a b"), word_set("c d")) == 1.0
    assert maxmin_jaccard(["x y", "x y z", "p q"], 5) == ["x y", "p q", "x y z"]
    assert maxmin_jaccard([], 3) == []


def test_pool_sample_excludes_and_state_round_trips():
    rng = np.random.default_rng(0)
    pool = DiversePool.from_config(GFlowPOConfig())
    pool.update(0, buffer_of("a", "b", "c"), rng)
    assert set(pool.sample(5, rng, exclude=["b"])) == {"a", "c"}
    restored = DiversePool.from_state(json.loads(json.dumps(pool.state_dict())))
    assert (restored.texts, restored.last_refresh, restored.refresh) == (pool.texts, 0, "live")


def test_draw_references_takes_queue_then_distinct_diverse_prompts():
    rng = np.random.default_rng(1)
    q = PriorityQueue()
    q.push("a", 1.0, 0)
    pool = DiversePool()
    pool.update(0, buffer_of("a", "b", "c"), rng)
    refs = draw_references(q, pool, 1, 2, rng)
    assert refs[0] == "a" and sorted(refs[1:]) == ["b", "c"]
    assert draw_references(PriorityQueue(), DiversePool(), 1, 2, rng) == []
