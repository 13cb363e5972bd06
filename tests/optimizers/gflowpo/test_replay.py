"""Replay buffer: top-N by reward, unique texts, named sampling modes, JSON-able state."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from promptflux.optimizers.gflowpo.replay import ReplayBuffer, ReplayEntry


def entry(text: str, log_reward: float, accuracy: float = 0.5, step: int = 0) -> ReplayEntry:
    return ReplayEntry(
        text=text,
        token_ids=(1, 2, 3),
        accuracy=accuracy,
        scores=(1.0, 0.0),
        log_prior=-10.0,
        log_reward=log_reward,
        step=step,
    )


def test_keeps_the_top_n_by_log_reward():
    buffer = ReplayBuffer(capacity=3)
    for i, r in enumerate([-5.0, -1.0, -9.0, -3.0, -20.0]):
        buffer.add(entry(f"p{i}", r))
    assert [e.text for e in buffer.best()] == ["p1", "p3", "p0"]
    assert "p2" not in buffer and "p4" not in buffer
    assert not buffer.add(entry("p5", -50.0))  # worse than everything: rejected on arrival


def test_ties_evict_the_oldest():
    buffer = ReplayBuffer(capacity=2)
    buffer.extend([entry("old", -1.0), entry("mid", -1.0), entry("new", -1.0)])
    assert [e.text for e in buffer] == ["mid", "new"]


def test_duplicate_text_keeps_the_best_entry():
    buffer = ReplayBuffer(capacity=5)
    buffer.add(entry("same", -5.0, step=1))
    assert not buffer.add(entry("same", -7.0, step=2))
    assert buffer.add(entry("same", -2.0, step=3))
    assert len(buffer) == 1 and buffer.get("same").step == 3


def test_rank_by_accuracy():
    buffer = ReplayBuffer(capacity=2, rank_by="accuracy")
    buffer.extend([entry("a", -1.0, accuracy=0.2), entry("b", -50.0, accuracy=0.9), entry("c", -9.0, 0.5)])
    assert [e.text for e in buffer.best()] == ["b", "c"]


def test_uniform_sampling_is_distinct_seeded_and_capped():
    buffer = ReplayBuffer(capacity=10)
    buffer.extend([entry(f"p{i}", -float(i)) for i in range(6)])
    first = buffer.sample(4, np.random.default_rng(3))
    again = buffer.sample(4, np.random.default_rng(3))
    assert first == again and len({e.text for e in first}) == 4
    assert len(buffer.sample(50, np.random.default_rng(0))) == 6
    assert ReplayBuffer().sample(4, np.random.default_rng(0)) == []


@pytest.mark.parametrize("mode", ["rank", "softmax"])
def test_prioritised_modes_prefer_high_reward(mode):
    buffer = ReplayBuffer(capacity=10)
    buffer.extend([entry(f"p{i}", -float(i)) for i in range(5)])  # p0 is best
    rng = np.random.default_rng(0)
    counts = Counter(buffer.sample(1, rng, mode=mode)[0].text for _ in range(2000))
    assert counts["p0"] > counts["p2"] > counts["p4"]
    uniform = Counter(buffer.sample(1, rng)[0].text for _ in range(2000))
    assert max(uniform.values()) < 1.3 * min(uniform.values())


def test_cold_softmax_always_picks_the_best():
    buffer = ReplayBuffer(capacity=10)
    buffer.extend([entry(f"p{i}", -float(i)) for i in range(5)])
    rng = np.random.default_rng(0)
    assert {buffer.sample(1, rng, "softmax", temperature=0.01)[0].text for _ in range(50)} == {"p0"}
    with pytest.raises(ValueError, match="sampling mode"):
        buffer.sample(1, rng, "greedy")  # type: ignore[arg-type]


def test_state_is_json_and_restores_order_and_ages():
    buffer = ReplayBuffer(capacity=3)
    buffer.extend([entry("a", -1.0), entry("b", -1.0), entry("c", -2.0)])
    restored = ReplayBuffer.from_state(json.loads(json.dumps(buffer.state_dict())))
    assert restored.entries == buffer.entries
    assert (restored.capacity, restored.rank_by) == (3, "log_reward")
    for b in (buffer, restored):  # the same future: "c" is worst, then "a" is the older of the ties
        b.add(entry("d", -1.0))
        b.add(entry("e", -1.0))
    assert [e.text for e in restored] == [e.text for e in buffer] == ["b", "d", "e"]


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "  "},
        {"token_ids": ()},
        {"accuracy": 1.2},
        {"log_reward": float("nan")},
        {"log_prior": float("-inf")},
    ],
)
def test_invalid_entries_are_rejected(bad):
    fields = {**entry("ok", -1.0).to_dict(), **bad}
    with pytest.raises(ValueError):
        ReplayEntry(**{**fields, "token_ids": tuple(fields["token_ids"]), "scores": tuple(fields["scores"])})
