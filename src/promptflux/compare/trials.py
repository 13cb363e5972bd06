"""Trials: one ordinary run folder per (task, method, seed), so each one resumes like `optimize --resume`.

    OUT/compare.yaml                               the grid (no secrets)
    OUT/trials/<task-slug>/<label>/seed-<n>/       a run folder: config.yaml, events.jsonl, result.json
                                         error.txt  the last failure of that trial, if any

A trial is finished (result.json: skipped on a rerun), interrupted (a run folder without a result:
resumed) or new. A folder whose config.yaml differs from what the grid now asks for is an error, never
silently reused: a comparison mixing budgets or hyper-parameters would not be a comparison.
"""

from __future__ import annotations

import json
import os
import re
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from promptflux.compare.spec import CompareSpec
from promptflux.errors import ConfigError, PromptfluxError
from promptflux.recipe import RunSpec, make_spec
from promptflux.recipe.config import ModelAccess
from promptflux.runs.folder import RunFolder, strip_secrets

TRIALS = "trials"
ERROR = "error.txt"


def task_slug(task: str) -> str:
    """A folder name: 'bbh/navigate' -> 'bbh_navigate', 'custom:/x/tickets.yaml' -> 'custom-tickets'."""
    if task.startswith("custom:"):
        task = "custom-" + Path(task.removeprefix("custom:")).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", task).strip("_") or "task"


def trial_dir(out: Path, task: str, label: str, seed: int) -> Path:
    return out / TRIALS / task_slug(task) / label / f"seed-{seed}"


@dataclass(frozen=True, eq=False)  # hashed by identity: the spec holds dicts
class Trial:
    task: str
    label: str
    seed: int
    spec: RunSpec
    path: Path

    @property
    def name(self) -> str:
        return f"{self.task} / {self.label} / seed {self.seed}"

    def state(self) -> str:
        """'finished', 'interrupted' (a run folder without a result) or 'new'."""
        if (self.path / RunFolder.RESULT).exists():
            return "finished"
        if (self.path / RunFolder.CONFIG).exists():
            return "interrupted"
        return "new"


PLACEHOLDERS = ("{task}", "{task_slug}", "{seed}")


def expand(value: Any, task: str, seed: int) -> Any:
    """A `set` value with the trial's {task}, {task_slug} and {seed} filled in (other values unchanged),
    e.g. `seed_prompts: grid/trials/{task_slug}/ape/seed-{seed}` points each trial at its own source."""
    if not isinstance(value, str) or "{" not in value:
        return value
    for name, text in zip(PLACEHOLDERS, (task, task_slug(task), str(seed))):
        value = value.replace(name, text)
    return value


def run_spec(spec: CompareSpec, task: str, label: str, seed: int) -> RunSpec:
    """The run config of one trial: the method's preset and overrides, the trial's seed, the shared rest."""
    entry = spec.method(label)
    try:
        return make_spec(
            entry.name,
            entry.preset or spec.preset,
            {**{k: expand(v, task, seed) for k, v in entry.set.items()}, "seed": seed},
            task=task,
            task_options=spec.task_options.get(task, {}),
            data_seed=spec.data_seed,
            target=spec.target,
            prompt_lm=spec.prompt_lm,
            optimizer_model=spec.optimizer_model,
            **{key: getattr(spec, key) for key in ModelAccess.model_fields},  # each role's server too
            max_target_calls=spec.max_target_calls,
            max_optimizer_calls=spec.max_optimizer_calls,
            max_wall_seconds=spec.max_wall_seconds,
            test_examples=spec.test_examples,
            patience=spec.patience,
            target_score=spec.target_score,
            length_penalty=spec.length_penalty,
            demos=spec.demos,
            demo_trials=spec.demo_trials,
            max_usd=spec.max_usd,
            prices=spec.prices,
        )
    except ConfigError as e:
        raise ConfigError(f"method {label!r}: {e}") from None


def plan_trials(spec: CompareSpec, out: Path) -> list[Trial]:
    """Every trial of the grid (task-major, then method, then seed), checked against folders on disk."""
    slugs: dict[str, str] = {}
    for task in spec.tasks:
        other = slugs.setdefault(task_slug(task), task)
        if other != task:
            raise ConfigError(f"tasks {other!r} and {task!r} would share the folder {task_slug(task)!r}")
    out = out.resolve()
    trials = [
        Trial(task, m.key, seed, run_spec(spec, task, m.key, seed), trial_dir(out, task, m.key, seed))
        for task in spec.tasks
        for m in spec.methods
        for seed in spec.seeds
    ]
    for trial in trials:
        check_stored(trial)
    return trials


def check_stored(trial: Trial) -> None:
    """Fail when the trial's folder holds a run of a different config (another budget, preset, model …)."""
    file = trial.path / RunFolder.CONFIG
    if not file.exists():
        return
    try:
        stored = RunSpec.model_validate(yaml.safe_load(file.read_text()))
    except (ValidationError, yaml.YAMLError, TypeError):
        raise ConfigError(f"{file} is not a readable run config; delete {trial.path} to rerun it") from None
    # How the models are reached may change between reruns; what runs may not. Hyper-parameters are
    # compared as the method validates them, so a knob added since (stored folders lack it) counts at
    # its default, which keeps the earlier behaviour.
    reach = {"timeout": None, "max_retries": None}
    old = strip_secrets({**stored.model_dump(mode="json"), **reach, "hyperparameters": _knobs(stored)})
    new = strip_secrets(
        {**trial.spec.model_dump(mode="json"), **reach, "hyperparameters": _knobs(trial.spec)}
    )
    if old == new:
        return
    key, was, now = _first_difference(old, new)
    raise ConfigError(
        f"{trial.path} was run with {key}={was!r} but the comparison now asks for {now!r}; "
        "use another --out, or delete that trial folder to rerun it"
    )


def _knobs(spec: RunSpec) -> dict[str, Any]:
    try:
        return spec.method_config().model_dump(mode="json")
    except (ConfigError, ValidationError):  # a knob since removed or renamed: compare as written
        return spec.hyperparameters


def _first_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> tuple[str, Any, Any]:
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key), new.get(key)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                return _first_difference(a, b, f"{prefix}{key}.")
            return f"{prefix}{key}", a, b
    return prefix.rstrip(".") or "config", old, new


# ---------------------------------------------------------------------- running one trial (any process)


def one_line(error: BaseException) -> str:
    """What a report shows of a failure: the message of a PromptfluxError, else type and first line."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(error, PromptfluxError):
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def write_error(path: Path, line: str, details: str = "") -> None:
    """error.txt: the one-line error first (what the report shows), then any traceback."""
    path.mkdir(parents=True, exist_ok=True)
    (path / ERROR).write_text(line + "\n" + (f"\n{details}" if details else ""))


def read_error(path: Path) -> str | None:
    file = path / ERROR
    if not file.exists():
        return None
    lines = file.read_text().splitlines()
    return lines[0] if lines else "failed"


def quiet_worker() -> None:
    """A worker's terminal output is the comparison's: no library progress bars or deprecation noise."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)


def run_trial(path: str, spec: dict[str, Any], cache_path: str | None, threads: int | None) -> None:
    """Run one trial to its end in this process: new, or resumed from its folder; raises on failure.

    Each attempt (a retry on Ray, a rerun of the command) calls this same function, so work already
    done is picked up from the trial's run folder and its ledger. `threads` caps torch's CPU threads so
    that parallel trials share the cores instead of fighting over them; it is set before models load.
    """
    from promptflux import recipe
    from promptflux.evaluation import OutputCache
    from promptflux.evaluation.cache import default_cache_path

    if threads:
        import torch

        torch.set_num_threads(threads)
    folder = Path(path)
    if (folder / RunFolder.RESULT).exists():
        return
    (folder / ERROR).unlink(missing_ok=True)
    resume = (folder / RunFolder.CONFIG).exists()
    cache = OutputCache(cache_path or default_cache_path())
    try:
        reach = {k: spec.get(k) for k in ("timeout", "max_retries")}  # this rerun's, for a resumed trial
        new = None if resume else RunSpec.model_validate(spec)
        recipe.run(new, folder, resume=resume, changes=reach if resume else None, cache=cache)
    finally:
        cache.close()


def attempt_trial(path: str, spec: dict[str, Any], cache_path: str | None, threads: int | None) -> str | None:
    """`run_trial` that records a failure in error.txt instead of raising; returns the one-line error."""
    quiet_worker()
    try:
        run_trial(path, spec, cache_path, threads)
    except Exception as e:
        line = one_line(e)
        details = "" if isinstance(e, PromptfluxError) else traceback.format_exc()
        write_error(Path(path), line, details)
        return line
    return None


def read_result(path: Path) -> dict[str, Any] | None:
    file = path / RunFolder.RESULT
    return json.loads(file.read_text()) if file.exists() else None
