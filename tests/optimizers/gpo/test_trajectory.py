"""Trajectory: append / choose, current, best (earliest among ties), chosen, JSON checkpoints."""

from __future__ import annotations

import json

import pytest

from promptflux.optimizers.gpo import Trajectory, TrajectoryEntry


def entry(prompt: str, score: float, step: int = 0) -> TrajectoryEntry:
    return TrajectoryEntry(prompt, score, step)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 0.5, 0), "non-empty"),
        (("p", 1.5, 0), r"\[0, 1\]"),
        (("p", -0.1, 0), r"\[0, 1\]"),
        (("p", 0.5, -1), "step"),
    ],
)
def test_entry_validation(args, message):
    with pytest.raises(ValueError, match=message):
        TrajectoryEntry(*args)


def test_append_makes_current_and_records_chosen():
    traj = Trajectory()
    with pytest.raises(LookupError):
        _ = traj.current
    traj.append(entry("p0", 0.4, 0))
    traj.append(entry("p1", 0.3, 1))
    assert traj.current.prompt == "p1"
    assert traj.chosen == {"p0", "p1"}
    assert [e.prompt for e in traj.entries] == ["p0", "p1"]
    assert len(traj) == 2 and "p0" in traj and "zz" not in traj


def test_candidates_can_be_recorded_without_becoming_current():
    traj = Trajectory.from_entries([entry("p0", 0.4)])
    traj.append(entry("cand", 0.9, 1), make_current=False)
    assert traj.current.prompt == "p0"
    assert traj.chosen == {"p0"}
    assert traj.best.prompt == "cand"
    assert traj.choose("cand").score == 0.9
    assert traj.current.prompt == "cand" and traj.chosen == {"p0", "cand"}
    with pytest.raises(KeyError):
        traj.choose("never scored")


def test_duplicate_prompts_are_rejected():
    traj = Trajectory.from_entries([entry("p0", 0.4)])
    with pytest.raises(ValueError, match="already"):
        traj.append(entry("p0", 0.4, 3))


def test_best_prefers_the_earliest_among_ties():
    traj = Trajectory.from_entries(
        [entry("a", 0.5), entry("b", 0.7, 1), entry("c", 0.7, 2), entry("d", 0.2, 3)]
    )
    assert traj.best.prompt == "b"
    assert traj.get("c") == entry("c", 0.7, 2) and traj.get("zz") is None


def test_state_round_trips_through_json():
    traj = Trajectory.from_entries([entry("a", 0.5), entry("b", 0.25, 1)])
    traj.append(entry("cand", 0.75, 2), make_current=False)
    traj.choose("a")
    state = json.loads(json.dumps(traj.state_dict()))
    back = Trajectory.from_state(state)
    assert back.entries == traj.entries
    assert back.current == traj.current
    assert back.chosen == traj.chosen
    assert back.state_dict() == traj.state_dict()
    assert Trajectory.from_state(Trajectory().state_dict()).entries == ()
