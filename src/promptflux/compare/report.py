"""The comparison report, a pure function of the comparison folder (compare.yaml + trial folders).

    summary.json   per task and method: test accuracy mean and 95% t interval over seeds, val score,
                   calls, wall time, budget note; per seed: the validation-selected prompt and numbers
    table.md       the same as markdown tables
    curves.png     best validation accuracy vs target calls, one panel per task, seeds thin + mean
    report.html    one self-contained page: tables, the plot (embedded) and the selected prompts

Rerunning it (`compare --report-only`) after more trials finished gives the updated report. A method
that did not use its budget says so ("used 120 of 500 target calls (finished its 6 steps)"), as does
one that stopped on it: at equal budgets, that is part of the comparison.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from promptflux.compare import pareto
from promptflux.compare.spec import CompareSpec, load_spec
from promptflux.compare.summary import TrialRecord, collect, summarize
from promptflux.runs.report import step_values

SPEC = "compare.yaml"


# ---------------------------------------------------------------------- formatting


def fmt_test(row: dict[str, Any]) -> str:
    """'0.812 ± 0.021 (n=3)', '0.700 (n=1)', or '-' when no seed finished."""
    if row["test_mean"] is None:
        return "-"
    if row.get("reference"):
        low, high = row["test_ci95"]
        return f"{row['test_mean']:.3f} [{low:.3f}, {high:.3f}] (one prompt, n={row['test_n']})"
    if row["test_ci95_half"] is None:
        return f"{row['test_mean']:.3f} (n={row['finished']})"
    return f"{row['test_mean']:.3f} ± {row['test_ci95_half']:.3f} (n={row['finished']})"


def fmt_num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.1f} h"


COLUMNS = (
    "method",
    "test acc. ± 95% CI",
    "val acc.",
    "target calls",
    "optimiser calls",
    "wall time",
    "notes",
)


def table_rows(task: dict[str, Any]) -> list[list[str]]:
    """One row of cells per method (shared by the markdown, HTML and terminal tables)."""
    return [
        [
            m["label"],
            fmt_test(m),
            fmt_num(m["val_mean"], 3),
            fmt_num(m["target_calls_mean"]),
            fmt_num(m["optimizer_calls_mean"]),
            fmt_seconds(m["wall_seconds_mean"]),
            m["note"],
        ]
        for m in task["methods"]
    ]


def header_lines(summary: dict[str, Any]) -> list[str]:
    b = summary["budget"]
    limits = [f"{b['max_target_calls']} target calls"]
    if b["max_optimizer_calls"] is not None:
        limits.append(f"{b['max_optimizer_calls']} optimiser calls")
    if b["max_wall_seconds"] is not None:
        limits.append(f"{b['max_wall_seconds']:.0f} s")
    t = summary["trials"]
    return [
        f"Budget per trial: {', '.join(limits)} for the search (validation and test scoring are "
        "counted apart). Target model: " + summary["target"] + ".",
        "Seeds: " + ", ".join(map(str, summary["seeds"])) + ". Test accuracy of the prompt selected on "
        "the validation split: mean over seeds ± half-width of the 95% Student-t interval.",
        f"Trials: {t['finished']} finished, {t['failed']} failed, "
        f"{t['interrupted'] + t['not started']} not finished.",
    ]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _prompt_text(prompt: str, demos: list[dict[str, str]] | None = None) -> str:
    """The instruction, and the demonstrations chosen with it (one line each)."""
    shown = [f"demo: {d['input']} -> {d['output']}" for d in demos or []]
    return "\n".join([prompt if prompt.strip() else "(no instruction)", *shown])


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# Method comparison", "", *header_lines(summary), ""]
    for task in summary["tasks"]:
        n = ", ".join(map(str, task["test_n"])) or "-"
        lines += [f"## {task['task']}", "", f"Test examples per prompt: {n}.", ""]
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table_rows(task)]
        lines += [
            "",
            "Selected prompts:",
            "",
            "| method | seed | val | test | prompt |",
            "|---|---|---|---|---|",
        ]
        for m in task["methods"]:
            for t in m["trials"]:
                if t["status"] == "finished":
                    cells = [m["label"], str(t["seed"]), fmt_num(t["val"], 3), f"{t['test']:.3f}"]
                    shown = _md_cell(_prompt_text(t["prompt"], t.get("demos")))
                    lines.append("| " + " | ".join([*cells, shown]) + " |")
        lines += ["", *pareto.markdown_lines(task)]
    return "\n".join(lines)


def plot(spec: CompareSpec, records: list[TrialRecord], path: Path) -> None:
    """curves.png: per task, best validation accuracy vs target calls; thin per seed, bold mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(spec.tasks)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    for ax, task in zip(axes.flat, spec.tasks):
        for i, m in enumerate(spec.methods):
            color = f"C{i % 10}"
            series = [r.curve for r in records if r.task == task and r.label == m.key and r.curve]
            if not series:
                continue
            xs = sorted({x for s in series for x, _ in s})
            if len(xs) == 1:
                level = float(np.mean([s[-1][1] for s in series]))
                if xs[0] == 0:  # nothing searched (e.g. `fixed`): a reference level
                    ax.axhline(level, color=color, linestyle="--", linewidth=1.5, label=m.key)
                else:  # validated only once, at the end (the budget ran out in the first step)
                    label = f"{m.key} (mean of {len(series)}, validated once)"
                    ax.plot(xs, [level], marker="o", linestyle="none", color=color, label=label)
                continue
            values = np.array([step_values(s, xs) for s in series])
            for v in values:
                ax.step(xs, v, where="post", color=color, alpha=0.25, linewidth=0.8)
            mean = values.mean(axis=0)  # NaN until every seed has validated: the mean stays monotone
            ax.step(
                xs, mean, where="post", color=color, linewidth=2, label=f"{m.key} (mean of {len(series)})"
            )
        ax.axvline(spec.max_target_calls, color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(left=0)
        ax.set(title=task, xlabel="target calls (search)", ylabel="best validation accuracy")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}pre{white-space:pre-wrap;margin:0;font-size:0.9em}
img{max-width:100%}.note{color:#555;font-size:0.9em}"""


def html_page(summary: dict[str, Any], png: bytes | None, pareto_png: bytes | None = None) -> str:
    """report.html: one self-contained page (inline CSS, the plot as a data URI, escaped text)."""
    e = html.escape
    body = ["<h1>Method comparison</h1>", *(f"<p>{e(line)}</p>" for line in header_lines(summary))]
    for task in summary["tasks"]:
        n = ", ".join(map(str, task["test_n"])) or "-"
        body.append(f"<h2>{e(task['task'])}</h2><p>Test examples per prompt: {e(n)}.</p>")
        head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
        cells = [
            "<tr>"
            + "".join(f"<td>{e(c)}</td>" for c in row[:-1])
            + f'<td class="note">{e(row[-1])}</td></tr>'
            for row in table_rows(task)
        ]
        body.append(f"<table><tr>{head}</tr>{''.join(cells)}</table>")
    if png is not None:
        data = base64.b64encode(png).decode()
        body.append(
            "<h2>Best validation accuracy vs target calls</h2>"
            f'<img alt="curves" src="data:image/png;base64,{data}">'
        )
    body.append("<h2>Selected prompts</h2>")
    for task in summary["tasks"]:
        rows = []
        for m in task["methods"]:
            for t in m["trials"]:
                if t["status"] == "finished":
                    shown = e(_prompt_text(t["prompt"], t.get("demos")))
                    rows.append(
                        f"<tr><td>{e(m['label'])}</td><td>{t['seed']}</td><td>{fmt_num(t['val'], 3)}</td>"
                        f"<td>{t['test']:.3f}</td><td><pre>{shown}</pre></td></tr>"
                    )
                elif t["status"] == "failed":
                    rows.append(
                        f"<tr><td>{e(m['label'])}</td><td>{t['seed']}</td><td colspan=3>failed: "
                        f"{e(t['error'] or '')}</td></tr>"
                    )
        body.append(
            f"<h3>{e(task['task'])}</h3><table><tr><th>method</th><th>seed</th><th>val</th><th>test</th>"
            f"<th>prompt</th></tr>{''.join(rows)}</table>"
        )
    body.append(pareto.html_section(summary, pareto_png))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>promptflux comparison</title>'
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(out: Path, spec: CompareSpec | None = None) -> dict[str, Any]:
    """Write summary.json, table.md, curves.png and report.html into `out`; returns the summary."""
    spec = spec or load_spec(out / SPEC)
    records = collect(out, spec)
    summary = summarize(spec, records)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    (out / "table.md").write_text(markdown(summary))
    plot(spec, records, out / "curves.png")
    fronts = pareto.plot(spec.tasks, records, out / pareto.PARETO_PNG)
    png = (out / pareto.PARETO_PNG).read_bytes() if fronts else None
    (out / "report.html").write_text(html_page(summary, (out / "curves.png").read_bytes(), png))
    return summary
