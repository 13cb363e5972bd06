"""Command line: `promptflux tasks | models | eval`.

Every PromptfluxError ends as one line `error: ...` on stderr with exit code 2. Evaluations are
cached chunk by chunk, so an interrupted command loses nothing already scored.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from promptflux.errors import PromptfluxError

app = typer.Typer(
    help="Find better prompts for a language model.", no_args_is_help=True, add_completion=False
)
console = Console()
err_console = Console(stderr=True)

ModelOpt = Annotated[str, typer.Option("--model", "--target", "-m", help="Target model spec (see `models`).")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 … (HF backends).")]
DtypeOpt = Annotated[str, typer.Option(help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible server URL (else $OPENAI_BASE_URL).")]
KeyEnvOpt = Annotated[str, typer.Option(help="Name of the env var holding the API key (never stored).")]


def _default_cache() -> Path:
    from promptflux.models.embedded import cache_dir

    return cache_dir() / "outputs.sqlite"


@app.command()
def tasks(
    family: Annotated[str | None, typer.Argument(help="Only names starting with this, e.g. bbh/.")] = None,
) -> None:
    """List the built-in tasks."""
    from promptflux.tasks import list_tasks

    table = Table("task", "kind", "splits", "about", box=None, show_lines=False)
    for info in list_tasks():
        if family and not info.name.startswith(family):
            continue
        sizes = " ".join(f"{k}={v}" for k, v in info.sizes.items()) if info.sizes else "-"
        table.add_row(info.name, info.kind, sizes, info.description.split(". ")[0])
    console.print(table)
    console.print("Custom data: --task custom:<spec.yaml> (CSV/TSV/JSONL + columns + labels or metric).")


@app.command()
def models() -> None:
    """List the model specs you can pass to --model."""
    from promptflux.models import describe_models

    table = Table("spec", "what", box=None)
    for spec, about in describe_models():
        table.add_row(spec, about)
    console.print(table)


@app.command("eval")
def evaluate(
    task: Annotated[str, typer.Option(help="Task name (see `tasks`) or custom:<spec.yaml>.")],
    prompt: Annotated[str, typer.Option(help="The instruction to evaluate; empty for none.")] = "",
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    model: ModelOpt = "smollm2",
    data_seed: Annotated[int | None, typer.Option(help="Data seed (classification tasks).")] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N examples.")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite output cache (default: user cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache.")] = False,
    max_calls: Annotated[int | None, typer.Option(help="Hard budget of target calls.")] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score one prompt on a task split: accuracy with a 95% interval."""
    from promptflux.evaluation import Budget, BudgetLimits, Evaluator, OutputCache
    from promptflux.models import ModelOptions, load_model
    from promptflux.models.hf import HFSettings
    from promptflux.tasks import get_task

    the_task = get_task(task, seed=data_seed)
    examples = the_task.split(split)[:limit] if limit else the_task.split(split)
    if not examples:
        raise PromptfluxError(f"split {split!r} of {task!r} is empty")
    options = ModelOptions(
        hf=HFSettings(device=device, dtype=dtype), base_url=base_url, api_key_env=api_key_env
    )
    budget = Budget(BudgetLimits(target_calls=max_calls))
    store = OutputCache() if no_cache else OutputCache(cache or _default_cache())
    start = time.monotonic()
    with load_model(model, options) as lm:
        evaluator = Evaluator(the_task, lm, cache=store, budget=budget)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=as_json,
        ) as progress:
            bar = progress.add_task(f"{task} {split}", total=len(examples))
            (result,) = evaluator.evaluate([prompt], examples, on_progress=lambda n: progress.advance(bar, n))
    low, high = result.ci95
    report = {
        "task": task,
        "split": split,
        "model": model,
        "prompt": prompt,
        "n": len(result.scores),
        "accuracy": result.mean,
        "ci95": [low, high],
        "target_calls": budget.used["target"].calls,
        "cached": len(examples) - budget.used["target"].calls,
        "seconds": round(time.monotonic() - start, 2),
    }
    if as_json:
        print(json.dumps(report))
        return
    console.print(
        f"{task} {split} (n={report['n']}): accuracy [bold]{result.mean:.3f}[/] "
        f"[95% CI {low:.3f}–{high:.3f}]  target calls {report['target_calls']}, "
        f"cached {report['cached']}, {report['seconds']:.1f} s"
    )


def main() -> None:
    try:
        app()  # click handles usage errors (one line + usage) and Ctrl-C ("Aborted!", exit 1)
    except PromptfluxError as e:
        err_console.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
