"""The numbers of a comparison, read from its folder alone: per trial, per method, and the references.

`summarize` gives summary.json's content: per task and method the test mean and 95% t interval over
seeds, validation score, calls, wall time and a budget note; per seed the validation-selected prompt;
and the fixed reference prompts every trial scores (no instruction, the human instruction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptflux.compare import pareto
from promptflux.compare.notes import budget_note, early_stop, row_note
from promptflux.compare.spec import CompareSpec
from promptflux.compare.stats import mean_t_ci95
from promptflux.compare.trials import read_error, read_result, task_slug, trial_dir
from promptflux.runs.events import read_events
from promptflux.runs.folder import RunFolder
from promptflux.runs.report import curves


@dataclass
class TrialRecord:
    """What the report reads from one trial folder."""

    task: str
    label: str
    method: str
    seed: int
    path: Path
    status: str  # finished | failed | interrupted | not started
    result: dict[str, Any] | None = None
    error: str | None = None
    steps: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)  # (target calls, best val so far)


def collect(out: Path, spec: CompareSpec) -> list[TrialRecord]:
    records = []
    for task in spec.tasks:
        for m in spec.methods:
            for seed in spec.seeds:
                path = trial_dir(out, task, m.key, seed)
                record = TrialRecord(task, m.key, m.name, seed, path, "not started")
                record.result = read_result(path)
                record.error = read_error(path)
                events = path / RunFolder.EVENTS
                if record.result is not None:
                    record.status = "finished"
                    record.error = None
                    record.steps = sum(1 for _ in read_events(events, kind="step"))
                    record.curve = curves(events)["best_val"]
                elif record.error is not None:
                    record.status = "failed"
                elif (path / RunFolder.CONFIG).exists():
                    record.status = "interrupted"
                records.append(record)
    return records


def trial_row(r: TrialRecord, budget: int) -> dict[str, Any]:
    row: dict[str, Any] = {"seed": r.seed, "status": r.status, "error": r.error, "folder": str(r.path)}
    if r.result is None:
        return row
    chosen = r.result["prompts"]["chosen"]
    b = r.result["budget"]
    row.update(
        prompt=chosen["prompt"],
        val=chosen["val"],
        test=chosen["test"],
        test_n=chosen["test_n"],
        target_calls=b["target_calls"],
        optimizer_calls=b["optimizer_calls"],
        selection_calls=b["selection_calls"],
        wall_seconds=b["wall_seconds"],
        steps=r.steps,
        stopped=r.result["stopped"],
        note=budget_note(b["target_calls"], budget, r.steps, r.result["stopped"]),
        early=early_stop(r.result),
        demos=chosen.get("demos") or [],
    )
    if row["early"]:
        row["note"] = row["early"]
    return row


def method_row(rows: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """Mean and 95% t interval over the finished seeds, with one budget note for the row."""
    done = [r for r in rows if r["status"] == "finished"]
    mean, half = mean_t_ci95([r["test"] for r in done])
    vals = [r["val"] for r in done if r["val"] is not None]
    return {
        "seeds": len(rows),
        "finished": len(done),
        "failed": sum(r["status"] == "failed" for r in rows),
        "test_mean": mean if done else None,
        "test_ci95_half": half,
        "test_ci95": None if half is None else [mean - half, mean + half],
        "val_mean": _mean(vals),
        "target_calls_mean": _mean([r["target_calls"] for r in done]),
        "optimizer_calls_mean": _mean([r["optimizer_calls"] for r in done]),
        "wall_seconds_mean": _mean([r["wall_seconds"] for r in done]),
        "note": row_note(rows, budget),
        "trials": rows,
    }


def summarize(spec: CompareSpec, records: list[TrialRecord]) -> dict[str, Any]:
    """summary.json's content."""
    budget = spec.max_target_calls
    tasks = []
    for task in spec.tasks:
        methods = []
        test_n: set[int] = set()
        for m in spec.methods:
            rows = [trial_row(r, budget) for r in records if r.task == task and r.label == m.key]
            test_n |= {r["test_n"] for r in rows if r["status"] == "finished"}
            methods.append({"label": m.key, "method": m.name, **method_row(rows, budget)})
        methods += reference_rows([r for r in records if r.task == task and r.result is not None])
        tasks.append(
            {
                "task": task,
                "slug": task_slug(task),
                "test_n": sorted(test_n),
                "methods": methods,
                **pareto.front_summary(records, task),
            }
        )
    statuses = [r.status for r in records]
    return {
        "budget": {
            "max_target_calls": budget,
            "max_optimizer_calls": spec.max_optimizer_calls,
            "max_wall_seconds": spec.max_wall_seconds,
        },
        "target": spec.target,
        "seeds": spec.seeds,
        "test_examples": spec.test_examples,
        "trials": {s: statuses.count(s) for s in ("finished", "failed", "interrupted", "not started")},
        "tasks": tasks,
    }


REFERENCES = ("no instruction", "human instruction")


def reference_rows(finished: list[TrialRecord]) -> list[dict[str, Any]]:
    """The fixed prompts every trial scores on the same test subsample (recipe/execute.py), as rows.

    They are deterministic (greedy target, same examples), so one trial's figures stand for all; the
    interval is the binomial one over test examples, not a t interval over seeds. Trials that disagree
    (e.g. a different test subsample) are flagged in the row's note rather than averaged.
    """
    rows = []
    for name in REFERENCES:
        seen = [r.result["prompts"][name] for r in finished if name in r.result["prompts"]]
        if not seen:
            continue
        first = seen[0]
        differ = sum(1 for s in seen if s["test"] != first["test"])
        rows.append(
            {
                "label": f"({name})",
                "method": "reference",
                "reference": True,
                "prompt": first["prompt"],
                "seeds": len(seen),
                "finished": len(seen),
                "failed": 0,
                "test_mean": first["test"],
                "test_ci95_half": None,
                "test_ci95": first["test_ci95"],
                "test_n": first["test_n"],
                "val_mean": first["val"],
                "target_calls_mean": None,
                "optimizer_calls_mean": None,
                "wall_seconds_mean": None,
                "note": f"scored by every trial; {differ} of {len(seen)} disagree" if differ else "",
                "trials": [],
            }
        )
    return rows


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
