"""Command line: `promptflux tasks | models | methods | eval | optimize | compare | export`.

This module only parses flags and hands them on: what a run or a comparison is, and the precedence
of defaults, files and flags, live in recipe/config.py and compare/spec.py; what is shown lives in
cli_render.py. Every PromptfluxError ends as one line `error: ...` on stderr with exit code 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape  # an error's brackets ('promptflux[mlflow]') are text, not markup

from promptflux import cli_extras as extras
from promptflux.cli_render import (
    StepProgress,
    TrialProgress,
    err_console,
    eval_progress,
    print_comparison,
    print_eval,
    print_result,
    quiet_libraries,
    show_warnings,
)
from promptflux.errors import PromptfluxError
from promptflux.models.defaults import DEFAULT_TARGET

app = typer.Typer(
    help="Find better prompts for a language model.", no_args_is_help=True, add_completion=False
)

ModelOpt = Annotated[str, typer.Option("--model", "--target", "-m", help="Target model spec (see `models`).")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 … (HF backends).")]
DtypeOpt = Annotated[str, typer.Option(help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, int8.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible server URL (else $OPENAI_BASE_URL).")]
KeyEnvOpt = Annotated[str, typer.Option(help="Name of the env var holding the API key (never stored).")]
# Every numeric flag is range-checked here, at the edge: click turns a bad value into one usage line.
# A knob has one name from its flag to its use (RunSpec/CompareSpec field, parameter); a shorter
# flag spelling that README and scripts use is kept as an alias (--max-calls, --retries).
TimeoutOpt = Annotated[
    float | None, typer.Option(min=0.001, help="HTTP backends: seconds per request attempt (default 60).")
]
RetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--retries",
        "--max-retries",
        min=0,
        help="HTTP backends: retries after a timeout/5xx/429 (default 4).",
    ),
]
DataSeedOpt = Annotated[int | None, typer.Option(min=0, help="Data seed (classification tasks).")]


def _max_target_calls(what: str) -> object:
    return typer.Option("--max-calls", "--max-target-calls", min=1, help=what)


@app.command()
def tasks(
    family: Annotated[str | None, typer.Argument(help="Only names starting with this, e.g. bbh/.")] = None,
) -> None:
    """List the built-in tasks."""
    from promptflux.cli_render import print_tasks

    print_tasks(family)


@app.command()
def models() -> None:
    """List the model specs you can pass to --model, and what of each embedded model is on disk."""
    from promptflux.cli_render import print_models

    print_models()


@app.command()
def methods() -> None:
    """List the optimisation methods you can pass to `optimize --method`, with their presets."""
    from promptflux.cli_render import print_methods

    print_methods()


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
    max_target_calls: Annotated[int | None, _max_target_calls("Hard budget of target calls.")] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    timeout: TimeoutOpt = None,
    max_retries: RetriesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score one prompt on a task split: accuracy with a 95% interval."""
    from promptflux.evaluation import Budget, Evaluator, OutputCache
    from promptflux.evaluation.cache import default_cache_path
    from promptflux.models import load_model
    from promptflux.recipe.config import Budgets, ModelAccess, layered
    from promptflux.tasks import get_task

    the_task = get_task(task, seed=data_seed)
    examples = the_task.split(split)[:limit]  # limit None: the whole split (0 and below are refused)
    if not examples:
        raise PromptfluxError(f"split {split!r} of {task!r} is empty")
    access = ModelAccess(**layered(dict(
        device=device, dtype=dtype, base_url=base_url, api_key_env=api_key_env, timeout=timeout,
        max_retries=max_retries,
    )))  # fmt: skip
    budget = Budget(Budgets(max_target_calls=max_target_calls).limits())
    store = OutputCache() if no_cache else OutputCache(cache or default_cache_path())
    start = time.monotonic()
    with load_model(model, access.model_options()) as lm:
        evaluator = Evaluator(the_task, lm, cache=store, budget=budget)
        with eval_progress(disable=as_json) as progress:
            bar = progress.add_task(f"{task} {split}", total=len(examples))
            (result,) = evaluator.evaluate([prompt], examples, on_progress=lambda n: progress.advance(bar, n))
    report = {
        "task": task,
        "split": split,
        "model": model,
        "prompt": prompt,
        "n": len(result.scores),
        "accuracy": result.mean,
        "ci95": list(result.ci95),
        "target_calls": budget.used["target"].calls,
        "cached": len(examples) - budget.used["target"].calls,
        "seconds": round(time.monotonic() - start, 2),
    }
    if as_json:
        print(json.dumps(report))
    else:
        print_eval(report)


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
    max_target_calls: Annotated[
        int | None, _max_target_calls("Hard budget of target calls for the search.")
    ] = None,
    max_optimizer_calls: extras.OptimizerCallsOpt = None,
    test_examples: extras.TestExamplesOpt = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/<task>-<method>-<time>).")
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run in this folder.")] = None,
    cache: extras.SharedCacheOpt = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 … (HF backends).")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, bfloat16, int8 (CPU).")] = None,
    base_url: BaseUrlOpt = None,
    api_key_env: extras.KeyEnvOrNoneOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: RetriesOpt = None,
    patience: extras.PatienceOpt = None,
    target_score: extras.TargetScoreOpt = None,
    length_penalty: extras.LengthPenaltyOpt = None,
    demos: extras.DemosOpt = None,
    dry_run: extras.DryRunOpt = False,
    price: extras.PriceOpt = None,
    prices: extras.PricesOpt = None,
    max_usd: extras.MaxUsdOpt = None,
    target_base_url: extras.TargetUrlOpt = None,
    target_api_key_env: extras.TargetKeyOpt = None,
    optimizer_base_url: extras.OptimizerUrlOpt = None,
    optimizer_api_key_env: extras.OptimizerKeyOpt = None,
    mlflow: extras.MlflowOpt = False,
    mlflow_uri: extras.MlflowUriOpt = None,
) -> None:
    """Search for the best instruction; the test split is scored once, at the end.

    Precedence: built-in defaults < the --config file < its section for the method < flags < --set.
    With --resume the run's config.yaml decides; only a budget raise and how models are reached
    (--device, --api-key-env, --timeout, --retries) may be given, and are saved into it.
    """
    from promptflux.evaluation import OutputCache
    from promptflux.evaluation.cache import default_cache_path
    from promptflux.recipe import run
    from promptflux.recipe.config import check_resume_flags, parse_sets, resolve_run

    changes = dict(
        max_target_calls=max_target_calls, max_optimizer_calls=max_optimizer_calls, device=device,
        api_key_env=api_key_env, timeout=timeout, max_retries=max_retries, max_usd=max_usd,
        target_api_key_env=target_api_key_env, optimizer_api_key_env=optimizer_api_key_env,
        mlflow_uri=extras.mlflow_uri(mlflow, mlflow_uri),
    )  # fmt: skip
    spec = None
    if resume is not None:
        check_resume_flags(dict(
            task=task, method=method, preset=preset, config=config, set=set_, task_option=task_option,
            target=target, prompt_lm=prompt_lm, optimizer_model=optimizer_model, data_seed=data_seed,
            seed=seed, test_examples=test_examples, run_dir=run_dir, dtype=dtype, base_url=base_url,
            patience=patience, target_score=target_score, price=price, prices=prices,
            dry_run=dry_run or None, length_penalty=length_penalty, demos=demos,
            target_base_url=target_base_url, optimizer_base_url=optimizer_base_url,
        ))  # fmt: skip
    else:
        flags = dict(
            method=method, task=task, target=target, prompt_lm=prompt_lm, optimizer_model=optimizer_model,
            data_seed=data_seed, test_examples=test_examples, dtype=dtype, base_url=base_url, seed=seed,
            patience=patience, target_score=target_score, length_penalty=length_penalty, demos=demos,
            target_base_url=target_base_url, optimizer_base_url=optimizer_base_url, **changes,
        )  # fmt: skip
        file = extras.read_run_config(config) if config else {}
        flags.update(extras.price_fields(price, prices, file))
        spec = resolve_run(
            file,
            flags,
            task_options=parse_sets(task_option or [], "--task-option"),
            sets=parse_sets(set_ or []),
            preset=preset,
        )
        if dry_run:
            return extras.print_run_dry_run(spec)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = run_dir or Path("runs") / f"{spec.task.replace('/', '_')}-{spec.method}-{stamp}"
    folder = resume or run_dir
    with StepProgress() as (on_start, on_step):
        result = run(
            spec,
            folder,
            resume=resume is not None,
            changes=changes if resume is not None else None,
            cache=OutputCache(cache or default_cache_path()),
            on_start=on_start,
            on_step=on_step,
        )
    print_result(result, folder)


@app.command()
def compare(
    tasks: Annotated[str | None, typer.Option(help="Comma-separated tasks, e.g. sst2,trec.")] = None,
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated methods, e.g. fixed,ape,gpo (see `methods`).")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option(help="Comma-separated seeds for every method (default 0).")
    ] = None,
    max_target_calls: Annotated[
        int | None, _max_target_calls("Target-call budget of each trial's search (required).")
    ] = None,
    max_optimizer_calls: extras.OptimizerCallsOpt = None,
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
    test_examples: extras.TestExamplesOpt = None,
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
    cache: extras.SharedCacheOpt = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda (HF backends).")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, bfloat16, int8 (CPU).")] = None,
    base_url: BaseUrlOpt = None,
    api_key_env: extras.KeyEnvOrNoneOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: RetriesOpt = None,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Only rebuild the report of the --out folder.")
    ] = False,
    patience: extras.PatienceOpt = None,
    target_score: extras.TargetScoreOpt = None,
    length_penalty: extras.LengthPenaltyOpt = None,
    demos: extras.DemosOpt = None,
    dry_run: extras.DryRunOpt = False,
    price: extras.PriceOpt = None,
    prices: extras.PricesOpt = None,
    max_usd: extras.MaxUsdOpt = None,
    target_base_url: extras.TargetUrlOpt = None,
    target_api_key_env: extras.TargetKeyOpt = None,
    optimizer_base_url: extras.OptimizerUrlOpt = None,
    optimizer_api_key_env: extras.OptimizerKeyOpt = None,
    mlflow: extras.MlflowOpt = False,
    mlflow_uri: extras.MlflowUriOpt = None,
) -> None:
    """Compare methods fairly: every task x method x seed at one budget, then one report.

    Precedence: built-in defaults < the --config file (else the --out folder's compare.yaml) < flags.
    Rerunning with the same --out skips finished trials and resumes interrupted ones.
    """
    from promptflux.compare import spec as grid
    from promptflux.compare.report import SPEC, write_report
    from promptflux.compare.runner import run_comparison
    from promptflux.recipe.config import parse_sets

    out = out or Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    saved = out / SPEC
    if report_only:
        if not saved.exists():
            raise PromptfluxError(f"{out} holds no comparison (no {SPEC}); check --out")
        print_comparison(write_report(out), out)
        return
    base = grid.read_yaml(config) if config else grid.read_yaml(saved) if saved.exists() else {}
    flags = dict(
        tasks=grid.split_list(tasks) if tasks else None,
        methods=grid.split_list(methods) if methods else None,
        seeds=grid.parse_seeds(seeds) if seeds else None,
        preset=preset, max_target_calls=max_target_calls, max_optimizer_calls=max_optimizer_calls,
        max_wall_seconds=max_wall_seconds, target=target, prompt_lm=prompt_lm,
        optimizer_model=optimizer_model, data_seed=data_seed, test_examples=test_examples, jobs=jobs,
        device=device, dtype=dtype, base_url=base_url, api_key_env=api_key_env, timeout=timeout,
        max_retries=max_retries, patience=patience, target_score=target_score, max_usd=max_usd,
        length_penalty=length_penalty, demos=demos, target_base_url=target_base_url,
        target_api_key_env=target_api_key_env, optimizer_base_url=optimizer_base_url,
        optimizer_api_key_env=optimizer_api_key_env, mlflow_uri=extras.mlflow_uri(mlflow, mlflow_uri),
        **extras.price_fields(price, prices, base),
    )  # fmt: skip
    spec = grid.build_spec(base, flags, parse_sets(set_ or []), str(config or "compare"))
    if dry_run:
        extras.print_grid_dry_run(spec)
        return
    with TrialProgress(ray or ray_address is not None) as (on_plan, on_done):
        outcome = run_comparison(
            spec,
            out,
            ray=ray or ray_address is not None,
            ray_address=ray_address,
            cache_path=cache,
            on_plan=on_plan,
            on_done=on_done,
        )
    print_comparison(outcome.summary, out)
    if outcome.errors:
        err_console.print(f"[red]{len(outcome.errors)} trial(s) failed[/] (see error.txt in their folders)")
        raise typer.Exit(1)


app.command("export")(extras.export_command)  # its body lives in cli_extras.py


def main() -> None:
    quiet_libraries()
    show_warnings()
    try:
        app()  # click handles usage errors (one line + usage) and Ctrl-C ("Aborted!", exit 1)
    except PromptfluxError as e:
        err_console.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
