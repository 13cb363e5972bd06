"""Issue 14's tables from comparison folders: the method grid, pairwise differences, ablation orderings.

Reads only each folder's summary.json (`promptflux compare` writes it; `--report-only` refreshes it), so
it can be rerun at any time, also on a grid that is still running (unfinished seeds are left out and
the n in each cell says how many seeds a figure rests on).

    python benchmarks/evidence_report.py benchmarks/evidence/main [--vs gflowpo,gpo]
    python benchmarks/evidence_report.py benchmarks/evidence/ablations \
        --order gflowpo-onpolicy<gflowpo-onpolicy-dmu --order gflowpo-replay-no-dmu<gflowpo-full \
        --take benchmarks/evidence/main:gflowpo=gflowpo-full

`--take FOLDER:LABEL[=AS]` adds one method's rows from another comparison folder (matched by task), e.g.
an arm that is the comparison's own method with identical settings, or the seeded-GFlowPO row.

A difference "A - B" is the difference of the two methods' seed means with a Welch 95% t interval over
seeds (each seed's test accuracy of its validation-selected prompt): it carries the search's variance
across seeds, not only the test sample's. "ahead" / "behind" means the interval excludes 0. With `--vs`,
a second table pools the tasks: per pair, how many tasks each verdict got, and the mean over tasks of
the per-task differences with a 95% t interval over tasks (the tasks as the sample: does A beat B on
this kind of task, not on these six).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from promptflux.compare.stats import mean_t_ci95, t975


def seed_scores(method: dict) -> list[float]:
    return [t["test"] for t in method["trials"] if t["status"] == "finished"]


def welch(a: list[float], b: list[float]) -> tuple[float, float | None]:
    """(mean(a) - mean(b), half-width of the Welch 95% t interval); None below 2 seeds a side."""
    diff = sum(a) / len(a) - sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return diff, None
    va = sum((x - sum(a) / len(a)) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - sum(b) / len(b)) ** 2 for x in b) / (len(b) - 1) / len(b)
    if va + vb == 0:
        return diff, 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return diff, t975(max(1, math.floor(df))) * math.sqrt(va + vb)


def verdict(diff: float, half: float | None) -> str:
    if half is None:
        return "n<2"
    if diff - half > 0:
        return "ahead"
    if diff + half < 0:
        return "behind"
    return "not resolved"


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    mean, half = mean_t_ci95(values)
    return f"{mean:.3f}" + ("" if half is None else f" ± {half:.3f}") + f" ({len(values)})"


def grid_table(summary: dict) -> list[str]:
    tasks = summary["tasks"]
    labels = list(dict.fromkeys(m["label"] for t in tasks for m in t["methods"]))
    lines = ["| method | " + " | ".join(t["task"] for t in tasks) + " | mean of task means |"]
    lines.append("|---|" + "---:|" * (len(tasks) + 1))
    for label in labels:
        cells, means = [], []
        for t in tasks:
            m = next((m for m in t["methods"] if m["label"] == label), None)
            if m is None:
                cells.append("–")
            elif m.get("reference"):
                cells.append(f"{m['test_mean']:.3f}")
                means.append(m["test_mean"])
            else:
                scores = seed_scores(m)
                cells.append(cell(scores))
                if scores:
                    means.append(sum(scores) / len(scores))
        avg = f"{sum(means) / len(means):.3f}" if len(means) == len(tasks) else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {avg} |")
    return lines


def cost_table(summary: dict) -> list[str]:
    lines = ["| task | method | target calls | optimiser calls | selection calls | wall time (s) | note |"]
    lines.append("|---|---|---:|---:|---:|---:|---|")
    for t in summary["tasks"]:
        for m in t["methods"]:
            done = [x for x in m["trials"] if x["status"] == "finished"]
            if not done:
                continue

            def avg(key: str, rows: list = done) -> str:
                return f"{sum(r[key] for r in rows) / len(rows):.0f}"

            cells = [avg("target_calls"), avg("optimizer_calls"), avg("selection_calls"), avg("wall_seconds")]
            lines.append(f"| {t['task']} | {m['label']} | " + " | ".join(cells) + f" | {m['note']} |")
    return lines


def differences(summary: dict, ours: list[str]) -> list[tuple[str, str, str, float, float | None]]:
    """(task, A, B, mean A - mean B, Welch half-width) for each of `ours` against every other method."""
    rows = []
    for t in summary["tasks"]:
        by = {m["label"]: seed_scores(m) for m in t["methods"] if not m.get("reference")}
        for a in ours:
            for b in by:
                if b == a or b in ours[: ours.index(a)] or not by.get(a) or not by[b]:
                    continue
                rows.append((t["task"], a, b, *welch(by[a], by[b])))
    return rows


def pairwise(summary: dict, ours: list[str]) -> list[str]:
    lines = ["| task | difference | A − B (Welch 95%) | verdict |", "|---|---|---:|---|"]
    for task, a, b, diff, half in differences(summary, ours):
        shown = f"{diff:+.3f}" + ("" if half is None else f" ± {half:.3f}")
        lines.append(f"| {task} | {a} − {b} | {shown} | {verdict(diff, half)} |")
    return lines


def across_tasks(summary: dict, ours: list[str]) -> list[str]:
    lines = [
        "| difference | tasks ahead / behind / not resolved | mean over tasks (95% t over tasks) |",
        "|---|---|---:|",
    ]
    by_pair: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for _, a, b, diff, half in differences(summary, ours):
        by_pair.setdefault((a, b), []).append((diff, verdict(diff, half)))
    for (a, b), rows in by_pair.items():
        counts = " / ".join(str(sum(v == k for _, v in rows)) for k in ("ahead", "behind", "not resolved"))
        mean, half = mean_t_ci95([d for d, _ in rows])
        shown = f"{mean:+.3f}" + ("" if half is None else f" ± {half:.3f}") + f" ({len(rows)} tasks)"
        lines.append(f"| {a} − {b} | {counts} | {shown} |")
    return lines


def orderings(summary: dict, orders: list[str]) -> list[str]:
    lines = ["| task | expected (paper) | higher − lower (Welch 95%) | at this scale |", "|---|---|---:|---|"]
    word = {"ahead": "holds", "behind": "reversed", "not resolved": "not resolved", "n<2": "n<2"}
    for t in summary["tasks"]:
        by = {m["label"]: seed_scores(m) for m in t["methods"] if not m.get("reference")}
        for order in orders:
            low, high = order.split("<")
            if not by.get(low) or not by.get(high):
                continue
            diff, half = welch(by[high], by[low])
            shown = f"{diff:+.3f}" + ("" if half is None else f" ± {half:.3f}")
            lines.append(f"| {t['task']} | {low} < {high} | {shown} | {word[verdict(diff, half)]} |")
    return lines


def take(summary: dict, source: str) -> None:
    """Add the method `LABEL` of the folder in `FOLDER:LABEL[=AS]` to `summary`'s tasks (as `AS`)."""
    folder, _, labels = source.rpartition(":")
    label, _, renamed = labels.partition("=")
    other = json.loads((Path(folder) / "summary.json").read_text())
    if other["test_examples"] != summary["test_examples"] or other["target"] != summary["target"]:
        raise SystemExit(f"--take {source}: another target or test subsample than the report's folder")
    calls = other["budget"]["max_target_calls"]
    if calls != summary["budget"]["max_target_calls"]:
        renamed = f"{renamed or label} ({calls} calls)"  # a row at another budget says so
    by_task = {t["task"]: t for t in other["tasks"]}
    found = False
    for t in summary["tasks"]:
        method = next((m for m in by_task.get(t["task"], {}).get("methods", []) if m["label"] == label), None)
        if method is not None:
            t["methods"].append({**method, "label": renamed or label})
            found = True
    if not found:
        raise SystemExit(f"--take {source}: no method {label!r} on this folder's tasks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a `promptflux compare --out` folder")
    parser.add_argument("--vs", default="", help="methods to compare against every other (comma-separated)")
    parser.add_argument("--order", action="append", default=[], help="expected ordering LOW<HIGH")
    parser.add_argument("--take", action="append", default=[], help="FOLDER:LABEL[=AS], a row from elsewhere")
    args = parser.parse_args()
    summary = json.loads((args.folder / "summary.json").read_text())
    for source in args.take:
        take(summary, source)
    t = summary["trials"]
    print(f"{args.folder}: {t['finished']} trials finished, {t['failed']} failed; budget "
          f"{summary['budget']['max_target_calls']} target calls; seeds {summary['seeds']}\n")  # fmt: skip
    print("\n".join(grid_table(summary)), end="\n\n")
    print("\n".join(cost_table(summary)), end="\n\n")
    if args.vs:
        ours = [s for s in args.vs.split(",") if s]
        print("\n".join(pairwise(summary, ours)), end="\n\n")
        print("\n".join(across_tasks(summary, ours)), end="\n\n")
    if args.order:
        print("\n".join(orderings(summary, args.order)))


if __name__ == "__main__":
    main()
