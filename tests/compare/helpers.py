"""Hand-made trial folders: a result.json and an event log, as a finished run leaves them."""

from __future__ import annotations

import json
from pathlib import Path

from promptflux.compare.trials import trial_dir
from promptflux.runs import EventLog


def fake_trial(
    out: Path,
    task: str,
    label: str,
    seed: int,
    *,
    test: float,
    val: float,
    target_calls: int,
    steps: int,
    stopped: str | None = None,
    prompt: str = "Classify it.",
    test_n: int = 50,
) -> Path:
    """A finished trial whose best validation accuracy rises to `val` over `steps` steps."""
    path = trial_dir(out, task, label, seed)
    path.mkdir(parents=True)
    budget = {
        "target_calls": target_calls,
        "optimizer_calls": 3 * steps,
        "selection_calls": 40,
        "wall_seconds": 10.0 + seed,
    }
    log = EventLog(path / "events.jsonl", fsync=False)
    for step in range(steps):
        calls = target_calls * (step + 1) // steps
        acc = val * (step + 1) / steps
        log.append("validation", prompt=f"p{step}", accuracy=acc, budget={"target_calls": calls})
        log.append("step", step=step, budget={"target_calls": calls})
    if steps == 0:
        log.append("validation", prompt=prompt, accuracy=val, budget={"target_calls": 0})
    log.close()
    chosen = {"prompt": prompt, "val": val, "test": test, "test_ci95": [0, 1], "test_n": test_n}
    result = {"method": label, "best_prompt": prompt, "prompts": {"chosen": chosen}, "budget": budget}
    (path / "result.json").write_text(json.dumps({**result, "stopped": stopped}))
    (path / "config.yaml").write_text("{}\n")
    return path
