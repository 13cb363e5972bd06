"""A comparison from spec to report: plan the trials, run the unfinished ones, write the report.

Everything is checked before anything runs (method configs, stored trial configs, task names), so a
typo or a changed budget fails in one line instead of after hours. Trials that fail are recorded and
the others go on; the caller decides the exit code from the returned errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptflux.compare.local import OnDone, run_local
from promptflux.compare.report import SPEC, write_report
from promptflux.compare.spec import CompareSpec
from promptflux.compare.trials import Trial, plan_trials

log = logging.getLogger(__name__)


@dataclass
class CompareOutcome:
    summary: dict[str, Any]
    ran: list[Trial]  # trials this call ran (the rest were already finished)
    errors: dict[str, str]  # trial name -> one-line error, for trials that failed in this call


def save_spec(spec: CompareSpec, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (SPEC + ".tmp")
    tmp.write_text(yaml.safe_dump(spec.saved(), sort_keys=False))
    os.replace(tmp, out / SPEC)


def check_tasks(spec: CompareSpec, tasks: set[str]) -> None:
    """Load each task once here, so a bad name or data file is one error, not one per trial."""
    from promptflux.tasks import get_task

    for task in spec.tasks:
        if task in tasks:
            get_task(task, seed=spec.data_seed, **spec.task_options.get(task, {}))


def run_comparison(
    spec: CompareSpec,
    out: Path,
    *,
    ray: bool = False,
    ray_address: str | None = None,
    cache_path: Path | None = None,
    on_plan: Callable[[list[Trial], list[Trial]], None] | None = None,
    on_done: Callable[[Trial, str | None], None] | None = None,
) -> CompareOutcome:
    """Run every unfinished trial of `spec` into `out` (locally, or on Ray) and write the report.

    `on_plan(all_trials, to_run)` is called before the first trial starts; `on_done(trial, error)` after
    each one ends (error None: finished).
    """
    out = out.resolve()
    trials = plan_trials(spec, out)
    todo = [t for t in trials if t.state() != "finished"]
    if todo:
        check_tasks(spec, {t.task for t in todo})
    tracker = None
    if spec.mlflow_uri:  # connect before any trial runs: a missing package is one line, not hours later
        from promptflux.tracking.mlflow import CompareTracker

        tracker = CompareTracker.begin(spec.mlflow_uri, out, spec.saved())
        on_done = _logging(on_done, tracker)
    save_spec(spec, out)
    if on_plan is not None:
        on_plan(trials, todo)
    cache = str(cache_path.resolve()) if cache_path is not None else None
    outcome: dict[Trial, str | None] = {}
    if todo and ray:
        from promptflux.compare.ray_executor import run_ray

        outcome = run_ray(todo, address=ray_address, jobs=spec.jobs, cache_path=cache, on_done=on_done)
    elif todo:
        outcome = run_local(todo, jobs=spec.jobs, cache_path=cache, on_done=on_done)
    summary = write_report(out, spec)
    errors = {t.name: e for t, e in outcome.items() if e is not None}
    if tracker is not None:
        try:
            tracker.end(out, [(t.path, t.name) for t in trials], errors)
        except Exception as e:  # the comparison is done and reported; its copy in MLflow is not
            log.warning("MLflow: the comparison was not fully logged (rerun to add the rest): %s", e)
    return CompareOutcome(summary, todo, errors)


def _logging(on_done: OnDone | None, tracker: Any) -> OnDone:
    """`on_done` that first logs a finished trial as a nested MLflow run; a tracking error is a
    warning (the trial is logged by `tracker.end` or the next rerun), never the comparison's end."""

    def done(trial: Trial, error: str | None) -> None:
        if error is None:
            try:
                tracker.trial(trial.path, trial.name)
            except Exception as e:
                log.warning("MLflow: trial %s not logged yet: %s", trial.name, e)
        if on_done is not None:
            on_done(trial, error)

    return done
