"""Validation score against prompt length: the candidates no other candidate beats on both.

A shorter prompt costs less at every call the deployed prompt serves, so a run with the length
objective on (`length_penalty`, recipe/objective.py) records each validated candidate's prompt tokens in
its `validation` event. From those events alone:

    points(events)        one Point per validated candidate (instruction + demonstrations)
    pareto_front(points)  the non-dominated ones: no other point is as accurate with fewer tokens
    draw(ax, groups)      a scatter panel with the front marked (run report, comparison report)
    front_table(front)    the front as markdown rows

A run without recorded lengths has no points: the reports then leave the panel out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptflux.runs.event_types import Validation
from promptflux.runs.events import read_events

PARETO_TABLE = "pareto.md"


@dataclass(frozen=True)
class Point:
    prompt: str
    accuracy: float  # validation accuracy (raw, not penalised)
    tokens: int  # prompt tokens: the instruction and any demonstrations
    demos: tuple[str, ...] = ()  # training-example ids shown with the instruction
    label: str = ""  # who found it (a method label in a comparison)


def points(events_path: Path, label: str = "") -> list[Point]:
    """The validated candidates of a run with recorded lengths, each (prompt, demos) once."""
    seen: dict[tuple[str, tuple[str, ...]], Point] = {}
    for e in read_events(events_path, kind=Validation.kind):
        if e.get("prompt_tokens") is None:
            continue
        demos = tuple(e.get("demos") or ())
        seen.setdefault(
            (e["prompt"], demos), Point(e["prompt"], e["accuracy"], e["prompt_tokens"], demos, label)
        )
    return list(seen.values())


def pareto_front(candidates: Iterable[Point]) -> list[Point]:
    """The points no other point dominates (at least as accurate with at most as many tokens, better in
    one), by increasing length; of identical (tokens, accuracy) points the first is kept."""
    front: list[Point] = []
    for p in sorted(candidates, key=lambda p: (p.tokens, -p.accuracy)):
        if not front or p.accuracy > front[-1].accuracy:
            front.append(p)
    return front


def draw(
    ax: Any, groups: Mapping[str, Sequence[Point]], title: str = "validation score vs prompt length"
) -> None:
    """Each group's points (one colour per group), the front over all of them as a marked step line."""
    for i, (name, group) in enumerate(groups.items()):
        if group:
            xs, ys = [p.tokens for p in group], [p.accuracy for p in group]
            ax.plot(xs, ys, "o", color=f"C{i % 10}", alpha=0.5, label=name or "candidates")
    front = pareto_front(p for group in groups.values() for p in group)
    if front:
        xs, ys = [p.tokens for p in front], [p.accuracy for p in front]
        ax.step(xs, ys, where="post", color="black", linewidth=1)
        ax.plot(
            xs, ys, "o", markerfacecolor="none", markeredgecolor="black", markersize=10, label="Pareto front"
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlabel="prompt tokens", ylabel="validation accuracy", title=title)


def _cell(text: str) -> str:
    return (text.strip() or "(no instruction)").replace("|", "\\|").replace("\n", "<br>")


def front_table(front: Sequence[Point], with_label: bool = False) -> list[str]:
    """Markdown rows of the front: tokens, validation accuracy, demonstrations, prompt."""
    head = (
        ["tokens", "val", "demos", "prompt"]
        if not with_label
        else ["method", "tokens", "val", "demos", "prompt"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in front:
        cells = [str(p.tokens), f"{p.accuracy:.3f}", str(len(p.demos)), _cell(p.prompt)]
        lines.append("| " + " | ".join(([_cell(p.label)] if with_label else []) + cells) + " |")
    return lines


def write_front(events_path: Path, path: Path) -> list[Point]:
    """The run's Pareto front as a small markdown table at `path` (nothing written without lengths)."""
    front = pareto_front(points(events_path))
    if front:
        text = ["# Validation score vs prompt tokens: the Pareto front", "", *front_table(front), ""]
        path.write_text("\n".join(text), encoding="utf-8")
    return front
