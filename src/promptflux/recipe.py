"""One run, any method: from a run config to a finished run folder (new or resumed).

    RunSpec (config.yaml) -> task, models, budget, ledger -> method.build(context, config)
                          -> runs.driver.run_optimizer (steps, checkpoints, validation, one test)

The run config written to the run folder (no secrets) is the single source of truth: `--resume`
rebuilds everything from it, then the driver restores the checkpoint. `hyperparameters` holds the
method's fully resolved config, so a run folder says exactly what ran, whatever preset it started from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptflux.costs.budget import make_budget
from promptflux.errors import ConfigError
from promptflux.evaluation import BudgetLimits, OutputCache
from promptflux.evaluation.cache import default_cache_path
from promptflux.models import ModelOptions
from promptflux.models.defaults import DEFAULT_OPTIMIZER, DEFAULT_PROMPT_LM, DEFAULT_TARGET
from promptflux.models.hf import HFSettings
from promptflux.optimizers.base import MethodContext, ModelPool
from promptflux.optimizers.registry import get_method
from promptflux.runs import RunFolder
from promptflux.runs.driver import Selection, run_optimizer
from promptflux.runs.stopping import EarlyStopping, StopRule
from promptflux.tasks import get_task
from promptflux.tasks.base import Task

log = logging.getLogger(__name__)


class RunSpec(BaseModel):
    """Everything that defines a run; saved as the run folder's config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "gflowpo"
    task: str = "sst2"
    task_options: dict[str, Any] = {}  # loader options, e.g. {"rendering": "gpo"}
    data_seed: int | None = Field(None, ge=0)
    target: str = DEFAULT_TARGET
    prompt_lm: str | None = None  # methods with a trainable prompt-LM (GFlowPO, PPO, sampling)
    optimizer_model: str | None = None  # methods with an optimiser LLM (GPO, ...)
    device: str = "auto"
    dtype: str = "auto"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float | None = Field(None, gt=0)  # HTTP backends: seconds per attempt (None: 60)
    max_retries: int | None = Field(None, ge=0)  # HTTP backends: retries per request (None: 4)
    max_target_calls: int | None = Field(None, ge=1)
    max_optimizer_calls: int | None = Field(None, ge=1)
    max_wall_seconds: float | None = Field(None, gt=0)
    val_split: str = "dev"
    test_split: str = "test"
    test_examples: int | None = Field(None, ge=1)  # a fixed subsample of the test split (None: all)
    # Early stopping on the best validation score (runs/stopping.py); None: off.
    patience: int | None = Field(None, ge=1)  # steps without a higher best validation score
    target_score: float | None = Field(None, ge=0, le=1)  # stop once the best validation score reaches it
    # Dollars (costs/): a hard limit on the search's spend, and prices in $ per 1M tokens by model spec.
    max_usd: float | None = Field(None, gt=0)
    prices: dict[str, tuple[float, float]] = {}
    hyperparameters: dict[str, Any] = {}

    def method_config(self) -> Any:
        return get_method(self.method).config.validated(self.hyperparameters)


def make_spec(
    method: str, preset: str = "default", overrides: dict[str, Any] | None = None, **fields: Any
) -> RunSpec:
    """A RunSpec with the method's preset resolved; model specs the method does not use are dropped."""
    entry = get_method(method)
    config = entry.config.from_preset(preset, **(overrides or {}))
    for role, default in (("prompt_lm", DEFAULT_PROMPT_LM), ("optimizer_model", DEFAULT_OPTIMIZER)):
        if role in entry.uses:
            fields[role] = fields.get(role) or default
        else:
            fields.pop(role, None)
    try:
        return RunSpec(method=method, hyperparameters=config.model_dump(mode="json"), **fields)
    except ValidationError as e:
        raise ConfigError("run config: " + " ".join(str(e).splitlines()[1:3])) from None


def reference_prompts(task: Task) -> dict[str, str]:
    """Reference prompts every run scores on the test split: none, and the benchmark's own human one."""
    baselines = {"no instruction": ""}
    human = getattr(task, "reference_instructions", ())
    if human:
        baselines["human instruction"] = human[0]
    return baselines


# What `--resume` may change: budgets (raised only) and how to reach the models, never what runs.
RESUME_CHANGES = {
    "max_target_calls": "--max-calls",
    "max_optimizer_calls": "--max-optimizer-calls",
    "max_wall_seconds": "--max-wall-seconds",
    "max_usd": "--max-usd",
    "device": "--device",
    "api_key_env": "--api-key-env",
    "timeout": "--timeout",
    "max_retries": "--retries",
}
BUDGETS = ("max_target_calls", "max_optimizer_calls", "max_wall_seconds", "max_usd")


def resumed_spec(folder: RunFolder, changes: dict[str, Any] | None = None) -> RunSpec:
    """The run's spec from config.yaml, with `changes` (keys of RESUME_CHANGES) applied and saved."""
    try:
        spec = RunSpec.model_validate(folder.config())
    except ValidationError as e:
        raise ConfigError(f"{folder.path}/config.yaml: {' '.join(str(e).splitlines()[1:3])}") from None
    changes = {k: v for k, v in (changes or {}).items() if v is not None and v != getattr(spec, k)}
    if not changes:
        return spec
    unknown = sorted(set(changes) - set(RESUME_CHANGES))
    if unknown:
        raise ConfigError(f"--resume cannot change {', '.join(unknown)}")
    if folder.result() is not None:
        flags = ", ".join(RESUME_CHANGES[k] for k in changes)
        raise ConfigError(f"run {folder.path} has finished; {flags} cannot change it (start a new run)")
    for key in BUDGETS:
        old = getattr(spec, key)
        if key in changes and (old is None or changes[key] < old):
            raise ConfigError(
                f"--resume can raise {RESUME_CHANGES[key]} (now {'unlimited' if old is None else old}), "
                f"not lower it: a run's budget only grows"
            )
    try:
        new = RunSpec.model_validate({**spec.model_dump(mode="json"), **changes})
    except ValidationError as e:
        raise ConfigError("run config: " + " ".join(str(e).splitlines()[1:3])) from None
    folder.update_config(new.model_dump(mode="json"))
    said = ", ".join(f"{RESUME_CHANGES[k]} {getattr(spec, k)} -> {v}" for k, v in changes.items())
    log.warning("resuming %s with %s (saved in its config.yaml)", folder.path, said)
    return new


def run(
    spec: RunSpec | None,
    run_dir: Path,
    *,
    resume: bool = False,
    changes: dict[str, Any] | None = None,
    cache: OutputCache | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
    on_start: Callable[[RunSpec, int], None] | None = None,
) -> dict[str, Any]:
    """Create (or resume) the run in `run_dir` and run it to the end; returns result.json's content.

    Task and models are loaded before a new run folder is created, so a typo in a spec leaves no
    half-made folder behind. A resumed folder is locked first, so a second process touches nothing.
    `changes` (resume only) are the RESUME_CHANGES given on the command line.
    """
    folder = models = ledger = None
    try:
        if resume:
            folder = RunFolder.open(run_dir)
            spec = resumed_spec(folder, changes)
        elif spec is None:
            raise ConfigError("a new run needs a spec")
        method = get_method(spec.method)
        config = spec.method_config()
        task = get_task(spec.task, seed=spec.data_seed, **spec.task_options)
        models = ModelPool(model_options(spec, getattr(config, "seed", 0)))
        for model_spec in (spec.target, spec.prompt_lm, spec.optimizer_model):
            if model_spec:
                models.get(model_spec)  # a bad model spec fails before anything is written
        folder = folder or RunFolder.create(run_dir, spec.model_dump(mode="json"))
        limits = BudgetLimits(
            target_calls=spec.max_target_calls,
            optimizer_calls=spec.max_optimizer_calls,
            wall_seconds=spec.max_wall_seconds,
        )
        budget = make_budget(
            limits,
            max_usd=spec.max_usd,
            prices=spec.prices,
            target=spec.target,
            optimizer=spec.optimizer_model or spec.prompt_lm,
        )
        context = MethodContext(
            task=task,
            models=models,
            budget=budget,
            events=folder.events,
            cache=cache if cache is not None else OutputCache(default_cache_path()),
            ledger=(ledger := _ledger(folder)),
            target_spec=spec.target,
            prompt_lm_spec=spec.prompt_lm,
            optimizer_spec=spec.optimizer_model,
            val_split=spec.val_split,
        )
        optimizer = method.build(context, config)
        if on_start is not None:
            on_start(spec, optimizer.total_steps)
        return run_optimizer(
            optimizer,
            run=folder,
            train_evaluator=context.evaluator(),
            selection_evaluator=context.evaluator(role="selection"),
            budget=budget,
            selection=Selection(
                val_split=spec.val_split,
                test_split=spec.test_split,
                test_examples=spec.test_examples,
                baselines=reference_prompts(task),
            ),
            on_step=on_step,
            stopping=EarlyStopping(StopRule(spec.patience, spec.target_score)),
        )
    finally:
        if ledger is not None:
            ledger.close()
        if folder is not None:
            folder.close()
        if models is not None:
            models.close()


def model_options(spec: RunSpec, seed: int = 0) -> ModelOptions:
    """The backends' options from a run spec (HTTP timeout and retries only where the spec sets them)."""
    http = {"timeout": spec.timeout, "max_retries": spec.max_retries}
    return ModelOptions(
        hf=HFSettings(device=spec.device, dtype=spec.dtype, seed=seed),
        base_url=spec.base_url,
        api_key_env=spec.api_key_env,
        **{k: v for k, v in http.items() if v is not None},
    )


def _ledger(folder: RunFolder) -> OutputCache:
    return OutputCache(
        folder.path / RunFolder.LEDGER,
        remedy=f"move {RunFolder.LEDGER}* aside to resume without it (the spend is kept by the checkpoint "
        f"and the event log)",
    )
