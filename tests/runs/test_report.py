"""The run report: the fresh-sample learning curve is read from step summaries and drawn when present."""

from __future__ import annotations

import json

from promptflux.runs.report import curves, plot_curves


def _write(path, events):
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def test_fresh_sample_accuracy_per_step_skips_steps_without_fresh_samples(tmp_path):
    events = tmp_path / "events.jsonl"
    budget = {"target_calls": 10}
    _write(
        events,
        [
            {"kind": "step", "step": 0, "mean_train_acc": 0.25, "budget": budget},
            {"kind": "step", "step": 1, "mean_train_acc": None, "budget": budget},  # replay-only step
            {"kind": "step", "step": 2, "mean_train_acc": 0.5, "budget": budget},
            {"kind": "validation", "accuracy": 0.75, "budget": {"target_calls": 20}},
        ],
    )
    series = curves(events)
    assert series["fresh_train"] == [(0, 0.25), (2, 0.5)]
    assert series["best_val"] == [(20, 0.75)]
    plot_curves(events, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_methods_that_draw_nothing_have_no_learning_curve(tmp_path):
    events = tmp_path / "events.jsonl"
    _write(events, [{"kind": "step", "step": 0, "best_dev": 0.5, "budget": {"target_calls": 4}}])
    assert curves(events)["fresh_train"] == []
    plot_curves(events, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").exists()


def test_every_training_method_gets_a_training_curve(tmp_path):
    """GFlowPO's micro-batches and PPO's batches both feed best training accuracy and mean reward."""
    events = tmp_path / "events.jsonl"
    _write(
        events,
        [
            {
                "kind": "micro_batch",
                "accuracy": [0.5, 0.25],
                "log_reward": [-1.0, -3.0],
                "budget": {"target_calls": 8},
            },
            {
                "kind": "ppo_batch",
                "prompts": ["a", None],
                "reward": [0.75, 0.0],
                "budget": {"target_calls": 12},
            },
        ],
    )
    series = curves(events)
    assert series["best_train"] == [(8, 0.5), (12, 0.75)]
    assert series["mean_reward"] == [(8, -2.0), (12, 0.375)]
