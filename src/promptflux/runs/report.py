"""Reports as pure functions of a run's event log."""

from __future__ import annotations

from pathlib import Path

from promptflux.runs.event_types import TRAINING_BATCHES, Step, Validation
from promptflux.runs.events import read_events
from promptflux.runs.pareto import draw, points

TRAINING = {cls.kind: cls for cls in TRAINING_BATCHES}  # kind -> the fields its curves read


def curves(events_path: Path) -> dict[str, list[tuple[int, float]]]:
    """(target calls, value) series: best training accuracy and mean reward per batch, from the training
    batches of every method that trains (event_types.TrainingBatch: GFlowPO's log R, PPO's reward), and
    best validation accuracy; and (step, value) for `fresh_train`: the mean training accuracy of the
    prompts a method newly drew in that step, the curve that shows whether a prompt-LM learns."""
    best_train, best_val = float("-inf"), float("-inf")
    out: dict[str, list[tuple[int, float]]] = {
        "best_train": [],
        "mean_reward": [],
        "best_val": [],
        "fresh_train": [],
    }
    for e in read_events(events_path):
        if e["kind"] == Step.kind and e.get("mean_train_acc") is not None:
            out["fresh_train"].append((e["step"], e["mean_train_acc"]))
        calls = e.get("budget", {}).get("target_calls")
        if calls is None:
            continue
        batch = TRAINING.get(e["kind"])
        accuracy = [a for a in e[batch.accuracy_field] if a is not None] if batch else []
        if batch and accuracy:
            rewards = e[batch.reward_field]
            best_train = max(best_train, *accuracy)
            out["best_train"].append((calls, best_train))
            out["mean_reward"].append((calls, sum(rewards) / len(rewards)))
        elif e["kind"] == Validation.kind and not e.get("dropped"):  # a raced-out partial score is no best
            best_val = max(best_val, e["accuracy"])
            out["best_val"].append((calls, best_val))
    return out


def step_values(series: list[tuple[int, float]], grid: list[int]) -> list[float]:
    """A best-so-far series read as a step function at each x of `grid`: the last value at or before x,
    NaN before the series starts (so curves of several seeds can be averaged on one grid)."""
    out, i, value = [], 0, float("nan")
    for x in grid:
        while i < len(series) and series[i][0] <= x:
            value = series[i][1]
            i += 1
        out.append(value)
    return out


def plot_curves(events_path: Path, png_path: Path) -> None:
    """Accuracy and reward versus target calls, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = curves(events_path)
    learning = bool(series["fresh_train"])
    lengths = points(events_path)  # recorded when the length objective is on: a Pareto panel
    panels = 2 + learning + bool(lengths)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    ax_acc, ax_r = axes[0], axes[1]
    for key, label in (("best_train", "best training accuracy"), ("best_val", "best validation accuracy")):
        if series[key]:
            xs, ys = zip(*series[key])
            ax_acc.step(xs, ys, where="post", label=label)
    ax_acc.set(xlabel="target calls", ylabel="accuracy", title="accuracy vs target calls")
    ax_acc.legend(loc="lower right")
    if series["mean_reward"]:
        xs, ys = zip(*series["mean_reward"])
        ax_r.plot(xs, ys, ".", alpha=0.6)
    ax_r.set(
        xlabel="target calls", ylabel="mean reward per batch (GFlowPO: log R)", title="reward vs target calls"
    )
    if learning:
        steps, accs = zip(*series["fresh_train"])
        axes[2].plot(steps, accs, "o-", alpha=0.5, label="per step")
        window = min(5, len(accs))
        smooth = [
            sum(accs[max(0, i - window + 1) : i + 1]) / len(accs[max(0, i - window + 1) : i + 1])
            for i in range(len(accs))
        ]
        axes[2].plot(steps, smooth, "-", linewidth=2, label=f"mean of last {window}")
        axes[2].set(
            xlabel="step", ylabel="mean training accuracy", title="fresh samples: is the prompt-LM learning?"
        )
        axes[2].legend(loc="lower right")
    if lengths:
        draw(axes[-1], {"validated candidates": lengths})
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
