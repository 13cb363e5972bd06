"""The comparison's Pareto view: per task, validation score vs prompt tokens of every validated
candidate of every finished trial whose run recorded lengths (`length_penalty` set), coloured by
method, with the front over all of them marked (pareto.png) and tabulated (table.md, report.html).

Read from the trial folders' event logs alone (runs/pareto.py); a comparison without recorded lengths
gets no Pareto section.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptflux.runs.folder import RunFolder
from promptflux.runs.pareto import Point, draw, front_table, pareto_front, points

PARETO_PNG = "pareto.png"


def task_points(records: Sequence[Any], task: str) -> dict[str, list[Point]]:
    """method label -> the validated candidates with lengths of its finished trials on `task`."""
    out: dict[str, list[Point]] = {}
    for r in records:
        if r.task == task and r.status == "finished":
            found = points(r.path / RunFolder.EVENTS, label=r.label)
            if found:
                out.setdefault(r.label, []).extend(found)
    return out


def front_summary(records: Sequence[Any], task: str) -> dict[str, Any]:
    """summary.json's `pareto` for a task (the front, shortest first), or nothing without lengths."""
    groups = task_points(records, task)
    if not groups:
        return {}
    front = pareto_front(p for group in groups.values() for p in group)
    return {
        "pareto": [
            {
                "method": p.label,
                "tokens": p.tokens,
                "val": p.accuracy,
                "demos": list(p.demos),
                "prompt": p.prompt,
            }
            for p in front
        ]
    }


def _front(task: dict[str, Any]) -> list[Point]:
    return [Point(p["prompt"], p["val"], p["tokens"], tuple(p["demos"]), p["method"]) for p in task["pareto"]]


def markdown_lines(task: dict[str, Any]) -> list[str]:
    if not task.get("pareto"):
        return []
    head = "Pareto front (validation accuracy vs prompt tokens, over every method's validated candidates):"
    return [head, "", *front_table(_front(task), with_label=True), ""]


def html_section(summary: dict[str, Any], png: bytes | None) -> str:
    import base64

    tasks = [t for t in summary["tasks"] if t.get("pareto")]
    if not tasks:
        return ""
    e = html.escape
    parts = ["<h2>Validation score vs prompt length</h2>"]
    if png is not None:
        parts.append(f'<img alt="pareto" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    for task in tasks:
        rows = "".join(
            f"<tr><td>{e(p.label)}</td><td>{p.tokens}</td><td>{p.accuracy:.3f}</td><td>{len(p.demos)}</td>"
            f"<td><pre>{e(p.prompt.strip() or '(no instruction)')}</pre></td></tr>"
            for p in _front(task)
        )
        parts.append(
            f"<h3>{e(task['task'])}: Pareto front</h3><table><tr><th>method</th><th>tokens</th><th>val</th>"
            f"<th>demos</th><th>prompt</th></tr>{rows}</table>"
        )
    return "".join(parts)


def plot(tasks: Sequence[str], records: Sequence[Any], path: Path) -> bool:
    """pareto.png, one panel per task with lengths; False (nothing written) when no task has them."""
    groups = {task: task_points(records, task) for task in tasks}
    groups = {task: g for task, g in groups.items() if g}
    if not groups:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(groups), 3)
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    for ax, (task, group) in zip(axes.flat, groups.items()):
        draw(ax, group, title=task)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
