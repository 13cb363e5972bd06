"""Command line: `promptflux tasks | models | methods | eval | optimize | compare | export`.

Every PromptfluxError ends as one line `error: ...` on stderr with exit code 2. Evaluations are
cached chunk by chunk, so an interrupted command loses nothing already scored.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from promptflux.errors import PromptfluxError
from promptflux.models.defaults import DEFAULT_TARGET

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
# Every numeric flag is range-checked here, at the edge: click turns a bad value into one usage line.
TimeoutOpt = Annotated[
    float | None, typer.Option(min=0.001, help="HTTP backends: seconds per request attempt (default 60).")
]
RetriesOpt = Annotated[
    int | None, typer.Option(min=0, help="HTTP backends: retries after a timeout/5xx/429 (default 4).")
]
DataSeedOpt = Annotated[int | None, typer.Option(min=0, help="Data seed (classification tasks).")]
PatienceOpt = Annotated[
    int | None, typer.Option(min=1, help="Stop after N steps without a better best validation score.")
]
TargetScoreOpt = Annotated[
    float | None, typer.Option(min=0.0, max=1.0, help="Stop once the best validation score reaches this.")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the projected calls, tokens and $ per phase; run nothing.")
]
PriceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--price", help="MODEL=IN/OUT dollars per million tokens (repeatable), e.g. smollm2=0.1/0.2."
    ),
]
PricesOpt = Annotated[Path | None, typer.Option("--prices", help="YAML file of MODEL: IN/OUT prices.")]
MaxUsdOpt = Annotated[
    float | None, typer.Option(min=0.000001, help="Hard budget in dollars for the search (needs prices).")
]


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
    """List the model specs you can pass to --model, and what of each embedded model is on disk."""
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


@app.command()
def methods() -> None:
    """List the optimisation methods you can pass to `optimize --method`, with their presets."""
    from promptflux.optimizers.registry import METHODS

    table = Table("method", "presets", "needs", "what", box=None)
    for m in METHODS.values():
        needs = ", ".join(f"--{u.replace('_', '-')}" for u in sorted(m.uses)) or "-"
        table.add_row(m.name, ", ".join(m.config.presets()), needs, m.summary)
    console.print(table)


@app.command("eval")
def evaluate(
    task: Annotated[str, typer.Option(help="Task name (see `tasks`) or custom:<spec.yaml>.")],
    prompt: Annotated[str, typer.Option(help="The instruction to evaluate; empty for none.")] = "",
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    model: ModelOpt = DEFAULT_TARGET,
    data_seed: DataSeedOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N examples.")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite output cache (default: user cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache.")] = False,
    max_calls: Annotated[int | None, typer.Option(min=1, help="Hard budget of target calls.")] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    timeout: TimeoutOpt = None,
    retries: RetriesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score one prompt on a task split: accuracy with a 95% interval."""
    from promptflux.evaluation import Budget, BudgetLimits, Evaluator, OutputCache
    from promptflux.evaluation.cache import default_cache_path
    from promptflux.models import ModelOptions, load_model
    from promptflux.models.hf import HFSettings
    from promptflux.tasks import get_task

    the_task = get_task(task, seed=data_seed)
    examples = the_task.split(split)[:limit]  # limit None: the whole split (0 and below are refused)
    if not examples:
        raise PromptfluxError(f"split {split!r} of {task!r} is empty")
    http = {k: v for k, v in (("timeout", timeout), ("max_retries", retries)) if v is not None}
    options = ModelOptions(
        hf=HFSettings(device=device, dtype=dtype), base_url=base_url, api_key_env=api_key_env, **http
    )
    budget = Budget(BudgetLimits(target_calls=max_calls))
    store = OutputCache() if no_cache else OutputCache(cache or default_cache_path())
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


@app.command()
def optimize(
    task: Annotated[str | None, typer.Option(help="Task name (see `tasks`) or custom:<spec.yaml>.")] = None,
    method: Annotated[str | None, typer.Option(help="gflowpo (default), gpo, … (see `methods`).")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Method preset: default (default), quick, reference (GFlowPO).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML run config (keys as in config.yaml).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a method knob: --set lr=5e-5 (repeatable).")
    ] = None,
    task_option: Annotated[
        list[str] | None, typer.Option(help="Task loader option: --task-option rendering=gpo (repeatable).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", "-m", help="Target model spec.")] = None,
    prompt_lm: Annotated[
        str | None, typer.Option(help="Trainable prompt-LM spec (GFlowPO, PPO, sampling).")
    ] = None,
    optimizer_model: Annotated[str | None, typer.Option(help="Optimiser LLM spec (GPO).")] = None,
    data_seed: DataSeedOpt = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the method's random choices (default 0).")
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option(min=1, help="Hard budget of target calls for the search.")
    ] = None,
    max_optimizer_calls: Annotated[
        int | None, typer.Option(min=1, help="Hard budget of optimiser calls.")
    ] = None,
    test_examples: Annotated[
        int | None,
        typer.Option(min=1, help="Score a fixed seeded subsample of N test examples (default: all)."),
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/<task>-<method>-<time>).")
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this folder.")] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Shared SQLite output cache (default: user cache).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 … (HF backends).")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, bfloat16.")] = None,
    base_url: BaseUrlOpt = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Env var holding the API key (never stored).")
    ] = None,
    timeout: TimeoutOpt = None,
    retries: RetriesOpt = None,
    patience: PatienceOpt = None,
    target_score: TargetScoreOpt = None,
    dry_run: DryRunOpt = False,
    price: PriceOpt = None,
    prices: PricesOpt = None,
    max_usd: MaxUsdOpt = None,
) -> None:
    """Search for the best instruction; the test split is scored once, at the end.

    Precedence: built-in defaults < the --config file < flags given on the command line.
    With --resume the run's config.yaml decides; only a budget raise and how models are reached
    (--device, --api-key-env, --timeout, --retries) may be given, and are saved into it.
    """
    from promptflux.evaluation import OutputCache
    from promptflux.evaluation.cache import default_cache_path
    from promptflux.recipe import make_spec, run

    spec = None
    changes = dict(
        max_target_calls=max_calls, max_optimizer_calls=max_optimizer_calls, device=device,
        api_key_env=api_key_env, timeout=timeout, max_retries=retries, max_usd=max_usd,
    )  # fmt: skip
    if resume is not None:
        fixed = dict(
            task=task, method=method, preset=preset, config=config, set=set_, task_option=task_option,
            target=target, prompt_lm=prompt_lm, optimizer_model=optimizer_model, data_seed=data_seed,
            seed=seed, test_examples=test_examples, run_dir=run_dir, dtype=dtype, base_url=base_url,
            patience=patience, target_score=target_score, price=price, prices=prices,
            dry_run=dry_run or None,
        )  # fmt: skip
        given = [f"--{k.replace('_', '-')}" for k, v in fixed.items() if v is not None]
        if given:
            raise PromptfluxError(
                f"--resume continues the run its config.yaml describes; {', '.join(given)} cannot change "
                f"it (only --max-calls/--max-optimizer-calls upwards, --device, --api-key-env, "
                f"--timeout, --retries); start a new run to change more"
            )
    else:
        fields = _read_run_config(config) if config else {}
        flags = dict(
            method=method, task=task, target=target, prompt_lm=prompt_lm, optimizer_model=optimizer_model,
            data_seed=data_seed, test_examples=test_examples, dtype=dtype, base_url=base_url, **changes,
            patience=patience, target_score=target_score,
        )  # fmt: skip
        fields.update({k: v for k, v in flags.items() if v is not None})
        if task_option:
            fields["task_options"] = {**fields.get("task_options", {}), **_parse_sets(task_option)}
        fields.update(_price_fields(price, prices, fields))
        name = fields.pop("method", None) or "gflowpo"
        overrides = dict(fields.pop("hyperparameters", None) or {}, **(fields.pop(name, None) or {}))
        overrides.update(_parse_sets(set_ or []))
        if seed is not None:
            overrides["seed"] = seed
        spec = make_spec(name, preset or "default", overrides, **fields)
        if dry_run:
            from promptflux.costs import project

            _print_projection(project(spec))
            return
        run_dir = (
            run_dir or Path("runs") / f"{spec.task.replace('/', '_')}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
    folder = resume or run_dir
    with _step_progress() as (on_start, on_step):
        shared = OutputCache(cache or default_cache_path())
        result = run(
            spec,
            folder,
            resume=resume is not None,
            changes=changes if resume is not None else None,
            cache=shared,
            on_start=on_start,
            on_step=on_step,
        )
    _print_result(result, folder)


@app.command()
def compare(
    tasks: Annotated[str | None, typer.Option(help="Comma-separated tasks, e.g. sst2,trec.")] = None,
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated methods, e.g. fixed,ape,gpo (see `methods`).")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option(help="Comma-separated seeds for every method (default 0).")
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option(min=1, help="Target-call budget of each trial's search (required).")
    ] = None,
    max_optimizer_calls: Annotated[
        int | None, typer.Option(min=1, help="Optimiser-call budget per trial.")
    ] = None,
    max_wall_seconds: Annotated[
        float | None, typer.Option(min=0.001, help="Wall-time budget per trial.")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Preset of every method (default: default).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a method knob: --set gpo.steps=5 (label or method name)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML comparison spec (keys as in compare.yaml).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", "-m", help="Target model spec.")] = None,
    prompt_lm: Annotated[str | None, typer.Option(help="Prompt-LM spec (GFlowPO, PPO, sampling).")] = None,
    optimizer_model: Annotated[str | None, typer.Option(help="Optimiser LLM spec (GPO, APE, …).")] = None,
    data_seed: DataSeedOpt = None,
    test_examples: Annotated[
        int | None,
        typer.Option(min=1, help="Score the same seeded subsample of N test examples in every trial."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(min=1, help="Trials at once (default: CPU cores; on Ray: CPUs per trial = cores/N)."),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run the trials as Ray tasks (local Ray instance).")
    ] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (e.g. auto, ray://host:10001); implies --ray.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Comparison folder (default runs/compare-<time>); reuse it to resume.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Shared SQLite output cache (default: user cache).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda (HF backends).")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, bfloat16.")] = None,
    base_url: BaseUrlOpt = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Env var holding the API key (never stored).")
    ] = None,
    timeout: TimeoutOpt = None,
    retries: RetriesOpt = None,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Only rebuild the report of the --out folder.")
    ] = False,
    patience: PatienceOpt = None,
    target_score: TargetScoreOpt = None,
    dry_run: DryRunOpt = False,
    price: PriceOpt = None,
    prices: PricesOpt = None,
    max_usd: MaxUsdOpt = None,
) -> None:
    """Compare methods fairly: every task x method x seed at one budget, then one report.

    Precedence: built-in defaults < the --config file (else the --out folder's compare.yaml) < flags.
    Rerunning with the same --out skips finished trials and resumes interrupted ones.
    """
    from promptflux.compare import spec as grid
    from promptflux.compare.report import SPEC, write_report
    from promptflux.compare.runner import run_comparison

    out = out or Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    saved = out / SPEC
    if report_only:
        if not saved.exists():
            raise PromptfluxError(f"{out} holds no comparison (no {SPEC}); check --out")
        _print_comparison(write_report(out), out)
        return
    base = grid.read_yaml(config) if config else grid.read_yaml(saved) if saved.exists() else {}
    flags = dict(
        tasks=grid.split_list(tasks) if tasks else None,
        methods=grid.split_list(methods) if methods else None,
        seeds=grid.parse_seeds(seeds) if seeds else None,
        preset=preset, max_target_calls=max_calls, max_optimizer_calls=max_optimizer_calls,
        max_wall_seconds=max_wall_seconds, target=target, prompt_lm=prompt_lm,
        optimizer_model=optimizer_model, data_seed=data_seed, test_examples=test_examples, jobs=jobs,
        device=device, dtype=dtype, base_url=base_url, api_key_env=api_key_env, timeout=timeout,
        max_retries=retries, patience=patience, target_score=target_score, max_usd=max_usd,
        **_price_fields(price, prices, base),
    )  # fmt: skip
    spec = grid.build_spec(base, flags, _parse_sets(set_ or []), str(config or "compare"))
    if dry_run:
        from promptflux.compare.trials import run_spec
        from promptflux.costs import project

        _print_grid_projection(
            [
                (task, m.key, len(spec.seeds), [project(run_spec(spec, task, m.key, s)) for s in spec.seeds])
                for task in spec.tasks
                for m in spec.methods
            ]
        )
        return
    with _trial_progress(ray or ray_address is not None) as (on_plan, on_done):
        outcome = run_comparison(
            spec,
            out,
            ray=ray or ray_address is not None,
            ray_address=ray_address,
            cache_path=cache,
            on_plan=on_plan,
            on_done=on_done,
        )
    _print_comparison(outcome.summary, out)
    if outcome.errors:
        err_console.print(f"[red]{len(outcome.errors)} trial(s) failed[/] (see error.txt in their folders)")
        raise typer.Exit(1)


class _trial_progress:
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


def _print_comparison(summary: dict, out: Path) -> None:
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


# ---------------------------------------------------------------------- issue 15 (bodies in cli_extras.py)
from promptflux.cli_extras import ended_line as _ended_line  # noqa: E402
from promptflux.cli_extras import export_command  # noqa: E402
from promptflux.cli_extras import price_fields as _price_fields  # noqa: E402
from promptflux.cli_extras import print_grid_projection as _print_grid_projection  # noqa: E402
from promptflux.cli_extras import print_projection as _print_projection  # noqa: E402

app.command("export")(export_command)


def _read_run_config(path: Path) -> dict:
    from promptflux.config_files import read_yaml_mapping

    return read_yaml_mapping(path, "`task: sst2`")


def _parse_sets(items: list[str]) -> dict[str, object]:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PromptfluxError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


class _step_progress:
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


def _print_result(result: dict, folder: Path) -> None:
    table = Table("", "prompt", "val", "test [95% CI]", box=None)
    for name, row in result["prompts"].items():
        val = "-" if row["val"] is None else f"{row['val']:.3f}"
        low, high = row["test_ci95"]
        table.add_row(name, repr(row["prompt"]), val, f"{row['test']:.3f} [{low:.3f}, {high:.3f}]")
    console.print(table)
    b = result["budget"]
    console.print(
        f"best prompt: [bold]{result['best_prompt']!r}[/]\n"
        f"target calls {b['target_calls']} (+{b['selection_calls']} for validation/test), "
        f"optimiser calls {b['optimizer_calls']}, {b['wall_seconds']:.0f} s"
        + (f"; stopped early: {result['stopped']}" if result["stopped"] else "")
        + _ended_line(result)
        + f"\nrun folder: {folder} (events.jsonl, result.json, curve.png)"
    )


def _quiet_libraries() -> None:
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


class _WarningLines(logging.Handler):
    """promptflux's warnings (a server that keeps us waiting, a retry, a budget mismatch on resume) as
    `warning: ...` lines on stderr; printed through the console, they appear above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[yellow]warning:[/] {record.getMessage()}", highlight=False, soft_wrap=True)


def _show_warnings() -> None:
    logger = logging.getLogger("promptflux")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))


def main() -> None:
    _quiet_libraries()
    _show_warnings()
    try:
        app()  # click handles usage errors (one line + usage) and Ctrl-C ("Aborted!", exit 1)
    except PromptfluxError as e:
        err_console.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
