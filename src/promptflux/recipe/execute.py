"""One run, any method: from a run config to a finished run folder (new or resumed).

    RunSpec (config.yaml) -> task, models, budget, ledger -> method.build(context, config)
                          -> driver.run_method (steps, checkpoints, validation, one test)

The run config written to the run folder (no secrets) is the single source of truth: `--resume`
rebuilds everything from it, then the driver restores the checkpoint. `hyperparameters` holds the
method's fully resolved config, so a run folder says exactly what ran, whatever preset it started from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptflux.costs.budget import make_budget
from promptflux.errors import ConfigError
from promptflux.evaluation import OutputCache
from promptflux.evaluation.cache import default_cache_path
from promptflux.models import ModelOptions
from promptflux.optimizers.components.racing import race_settings
from promptflux.optimizers.context import MethodContext, ModelPool
from promptflux.optimizers.registry import get_method
from promptflux.recipe.config import RunSpec, resumed_spec
from promptflux.recipe.demos import DemoSearch
from promptflux.recipe.driver import Selection, run_method
from promptflux.recipe.objective import LengthObjective
from promptflux.runs import RunFolder
from promptflux.runs.stopping import EarlyStopping, StopRule
from promptflux.tasks import get_task
from promptflux.tasks.base import Task
from promptflux.types import Role

OnStep = Callable[[int, dict[str, Any]], None]


def reference_prompts(task: Task) -> dict[str, str]:
    """Reference prompts every run scores on the test split: none, and the benchmark's own human one."""
    baselines = {"no instruction": ""}
    human = getattr(task, "reference_instructions", ())
    if human:
        baselines["human instruction"] = human[0]
    return baselines


def run(
    spec: RunSpec | None,
    run_dir: Path,
    *,
    resume: bool = False,
    changes: dict[str, Any] | None = None,
    cache: OutputCache | None = None,
    on_step: OnStep | None = None,
    on_start: Callable[[RunSpec, int], None] | None = None,
) -> dict[str, Any]:
    """Create (or resume) the run in `run_dir` and run it to the end; returns result.json's content.

    Task and models are loaded before a new run folder is created, so a typo in a spec leaves no
    half-made folder behind. A resumed folder is locked first, so a second process touches nothing.
    `changes` (resume only) are the RESUME_CHANGES given on the command line.
    """
    folder = models = ledger = tracker = None
    try:
        if resume:
            folder = RunFolder.open(run_dir)
            spec = resumed_spec(folder, changes)
        elif spec is None:
            raise ConfigError("a new run needs a spec")
        if spec.mlflow_uri:  # a missing package or an unusable store fails before any folder is made
            from promptflux.tracking.mlflow import RunTracker

            tracker = RunTracker.connect(spec.mlflow_uri)
        method = get_method(spec.method)
        config = spec.method_config()
        task = get_task(spec.task, seed=spec.data_seed, **spec.task_options)
        seed = getattr(config, "seed", 0)
        models = ModelPool(model_options(spec, seed), {r: model_options(spec, seed, r) for r in ENDPOINTS})
        roles = ((spec.target, Role.TARGET), (spec.prompt_lm, None), (spec.optimizer_model, Role.OPTIMIZER))
        for model_spec, role in roles:
            if model_spec:
                models.get(model_spec, role)  # a bad model spec fails before anything is written
        folder = folder or RunFolder.create(run_dir, spec.model_dump(mode="json"))
        budget = make_budget(
            spec.limits(),
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
        searcher = method.build(context, config)
        if on_start is not None:
            on_start(spec, searcher.total_steps)
        if tracker is not None:
            tracker.begin(folder.path, spec.model_dump(mode="json"))
        result = run_method(
            searcher,
            run=folder,
            train_evaluator=context.evaluator(),
            selection_evaluator=context.evaluator(role=Role.SELECTION),
            budget=budget,
            selection=Selection(
                val_split=spec.val_split,
                test_split=spec.test_split,
                test_examples=spec.test_examples,
                baselines=reference_prompts(task),
                objective=None
                if spec.length_penalty is None
                else LengthObjective.for_target(spec.length_penalty, spec.target),
                demos=DemoSearch(spec.demos, spec.demo_trials, getattr(config, "seed", 0))
                if spec.demos
                else None,
                race=race_settings(config),  # the method's `racing` knobs race validation too
            ),
            on_step=_observed(on_step, tracker),
            stopping=EarlyStopping(StopRule(spec.patience, spec.target_score)),
        )
        if tracker is not None:
            tracker.end(result, folder.path)
        return result
    except BaseException as error:
        if tracker is not None:
            tracker.fail(error)
        raise
    finally:
        if ledger is not None:
            ledger.close()
        if folder is not None:
            folder.close()
        if models is not None:
            models.close()


def _observed(on_step: OnStep | None, tracker: Any) -> OnStep | None:
    """The tracker's `on_step`, then the caller's (an observer: it sees, never steers)."""
    if tracker is None:
        return on_step

    def both(step: int, info: dict[str, Any]) -> None:
        tracker.on_step(step, info)  # first: the step is checkpointed, whatever the caller then does
        if on_step is not None:
            on_step(step, info)

    return both


ENDPOINTS = (Role.TARGET, Role.OPTIMIZER)  # the roles that may each have their own server


def model_options(spec: RunSpec, seed: int = 0, role: str | None = None) -> ModelOptions:
    """The backends' options from a run spec, for one role (see ModelAccess.model_options)."""
    return spec.model_options(seed, role)


def _ledger(folder: RunFolder) -> OutputCache:
    return OutputCache(
        folder.path / RunFolder.LEDGER,
        remedy=f"move {RunFolder.LEDGER}* aside to resume without it (the spend is kept by the checkpoint "
        f"and the event log)",
    )
