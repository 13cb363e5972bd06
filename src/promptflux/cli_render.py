"""What the command line shows: progress bars, result tables, warning lines. No logic of its own."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from promptflux.cli_extras import ended_line

console = Console()
err_console = Console(stderr=True)


def eval_progress(disable: bool) -> Progress:
    """A bar over the examples being scored."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=disable,
    )


def print_eval(report: dict) -> None:
    low, high = report["ci95"]
    console.print(
        f"{report['task']} {report['split']} (n={report['n']}): accuracy [bold]{report['accuracy']:.3f}[/] "
        f"[95% CI {low:.3f}–{high:.3f}]  target calls {report['target_calls']}, "
        f"cached {report['cached']}, {report['seconds']:.1f} s"
    )


class TrialProgress:
    """A bar over the trials to run, and one line per trial as it ends."""

    def __init__(self, on_ray: bool) -> None:
        self.on_ray = on_ray

    def __enter__(self):
        self.progress = Progress(
            TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=err_console,
        )  # fmt: skip
        self.progress.__enter__()
        self.bar = None

        def on_plan(trials, todo) -> None:
            where = "on Ray" if self.on_ray else "locally"
            done = len(trials) - len(todo)
            self.progress.console.print(
                f"{len(trials)} trials: {done} already finished, {len(todo)} to run {where}"
            )
            self.bar = self.progress.add_task("trials", total=len(todo))

        def on_done(trial, error) -> None:
            mark = "[green]done[/]" if error is None else f"[red]failed:[/] {error}"
            self.progress.console.print(f"{trial.name}: {mark}", highlight=False)
            self.progress.advance(self.bar)

        return on_plan, on_done

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def print_comparison(summary: dict, out: Path) -> None:
    from promptflux.compare.report import COLUMNS, table_rows

    for task in summary["tasks"]:
        table = Table(*COLUMNS[:-1], title=task["task"], title_justify="left")
        rows = table_rows(task)
        for row in rows:
            table.add_row(*row[:-1])
        console.print(table)
        for row in rows:
            if row[-1]:
                console.print(f"  {row[0]}: {row[-1]}", highlight=False)
    console.print(f"report: {out / 'report.html'} (table.md, summary.json, curves.png)")


class StepProgress:
    """A progress bar over optimisation steps showing best validation accuracy and target calls."""

    def __enter__(self):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=err_console,
        )
        self.progress.__enter__()
        self.bar = None

        def on_start(spec, total: int) -> None:
            self.bar = self.progress.add_task(f"{spec.method} {spec.task}", total=total, info="")

        def on_step(step: int, summary: dict) -> None:
            val = summary.get("best_val")
            info = "best val " + ("-" if val is None else f"{val:.3f}")
            info += f" · target calls {summary['budget']['target_calls']}"
            self.progress.update(self.bar, completed=step + 1, info=info)

        return on_start, on_step

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def print_result(result: dict, folder: Path) -> None:
    table = Table("", "prompt", "val", "test [95% CI]", box=None)
    for name, row in result["prompts"].items():
        val = "-" if row["val"] is None else f"{row['val']:.3f}"
        low, high = row["test_ci95"]
        table.add_row(name, repr(row["prompt"]), val, f"{row['test']:.3f} [{low:.3f}, {high:.3f}]")
    console.print(table)
    for demo in result["prompts"]["chosen"].get("demos") or []:  # shown with the chosen instruction
        console.print(f"  demo {demo['id']}: {demo['input']!r} -> {demo['output']!r}", highlight=False)
    if result.get("selection"):
        s = result["selection"]
        console.print(f"selected on {s['score']} (length_penalty {s['length_penalty']}; {s['tokens']})")
    b = result["budget"]
    console.print(
        f"best prompt: [bold]{result['best_prompt']!r}[/]\n"
        f"target calls {b['target_calls']} (+{b['selection_calls']} for validation/test), "
        f"optimiser calls {b['optimizer_calls']}, {b['wall_seconds']:.0f} s"
        + (f"; stopped early: {result['stopped']}" if result["stopped"] else "")
        + ended_line(result)
        + f"\nrun folder: {folder} (events.jsonl, result.json, curve.png)"
    )


def quiet_libraries() -> None:
    """Keep the terminal for our own progress: no per-tensor loading bars, no upstream deprecation noise."""
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


class WarningLines(logging.Handler):
    """promptflux's warnings (a server that keeps us waiting, a retry, a budget mismatch on resume) as
    `warning: ...` lines on stderr; printed through the console, they appear above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[yellow]warning:[/] {record.getMessage()}", highlight=False, soft_wrap=True)


def show_warnings() -> None:
    logger = logging.getLogger("promptflux")
    if not any(isinstance(h, WarningLines) for h in logger.handlers):
        logger.addHandler(WarningLines(logging.WARNING))


def print_tasks(family: str | None) -> None:
    from promptflux.tasks import list_tasks

    table = Table("task", "kind", "splits", "about", box=None, show_lines=False)
    for info in list_tasks():
        if family and not info.name.startswith(family):
            continue
        sizes = " ".join(f"{k}={v}" for k, v in info.sizes.items()) if info.sizes else "-"
        table.add_row(info.name, info.kind, sizes, info.description.split(". ")[0])
    console.print(table)
    console.print("Custom data: --task custom:<spec.yaml> (CSV/TSV/JSONL + columns + labels or metric).")


def print_models() -> None:
    from promptflux.models import describe_models
    from promptflux.models.embedded import EMBEDDED, cache_dir, status

    table = Table(box=None)
    table.add_column("spec", no_wrap=True)
    for column in ("installed", "assembled", "verified", "converted"):
        table.add_column(column, no_wrap=True)
    table.add_column("what")
    mark = {True: "yes", False: "-"}
    for spec, about in describe_models():
        if spec in EMBEDDED:
            st = status(spec)
            table.add_row(
                spec, mark[st.installed], mark[st.assembled], st.verified, mark[st.converted], about
            )
        else:
            table.add_row(spec, "", "", "", "", about)
    console.print(table)
    console.print(
        f"Assembled GGUFs and converted weights live in {cache_dir()} ($PROMPTFLUX_CACHE). "
        "`<name>@hf` / `<name>@llamacpp` pin one engine."
    )


def print_methods() -> None:
    from promptflux.optimizers.registry import METHODS

    table = Table("method", "presets", "needs", "what", box=None)
    for m in METHODS.values():
        needs = ", ".join(f"--{u.replace('_', '-')}" for u in sorted(m.uses)) or "-"
        table.add_row(m.name, ", ".join(m.config.presets()), needs, m.summary)
    console.print(table)
