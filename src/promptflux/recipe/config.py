"""The run configuration: one typed `RunSpec`, saved as a run folder's config.yaml, and how it is made.

make_spec(method, preset, overrides, **fields)   a new run's spec, the method's preset resolved
resumed_spec(folder, changes)                    a resumed run's spec, with what --resume may change
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptflux.errors import ConfigError, PromptfluxError
from promptflux.evaluation.budget import BudgetLimits
from promptflux.models import ModelOptions
from promptflux.models.defaults import DEFAULT_OPTIMIZER, DEFAULT_PROMPT_LM, DEFAULT_TARGET
from promptflux.models.hf import HFSettings
from promptflux.optimizers.registry import get_method
from promptflux.runs import RunFolder

log = logging.getLogger(__name__)


class ModelAccess(BaseModel):
    """How models are reached (never what they are): shared by runs, comparisons and `eval`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = "auto"
    dtype: str = "auto"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float | None = Field(None, gt=0)  # HTTP backends: seconds per attempt (None: 60)
    max_retries: int | None = Field(None, ge=0)  # HTTP backends: retries per request (None: 4)
    # Each role its own server (None: base_url / api_key_env above), e.g. the target on a local vLLM
    # and the optimiser LLM on a hosted API. The prompt-LM is always local (it is trained).
    target_base_url: str | None = None
    target_api_key_env: str | None = None
    optimizer_base_url: str | None = None
    optimizer_api_key_env: str | None = None

    def model_options(self, seed: int = 0, role: str | None = None) -> ModelOptions:
        """The backends' options for `role` ("target", "optimizer"; None: the shared endpoint), with
        HTTP timeout and retries only where set. The flags are named in the backends' errors."""
        http = {"timeout": self.timeout, "max_retries": self.max_retries}
        url = getattr(self, f"{role}_base_url", None) if role else None
        key = getattr(self, f"{role}_api_key_env", None) if role else None
        url_flag = f"--{role}-base-url" if url else f"--base-url (or --{role}-base-url)" if role else ""
        return ModelOptions(
            hf=HFSettings(device=self.device, dtype=self.dtype, seed=seed),
            base_url=url or self.base_url,
            api_key_env=key or self.api_key_env,
            url_flag=url_flag or "--base-url",
            key_flag=f"--{role}-api-key-env" if key else "--api-key-env",
            **{k: v for k, v in http.items() if v is not None},
        )


class Budgets(BaseModel):
    """The search's hard limits (None: unlimited); validation and test scoring are never limited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_target_calls: int | None = Field(None, ge=1)
    max_optimizer_calls: int | None = Field(None, ge=1)
    max_wall_seconds: float | None = Field(None, gt=0)

    def limits(self) -> BudgetLimits:
        return BudgetLimits(
            target_calls=self.max_target_calls,
            optimizer_calls=self.max_optimizer_calls,
            wall_seconds=self.max_wall_seconds,
        )


class RunSpec(ModelAccess, Budgets):
    """Everything that defines a run; saved as the run folder's config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "gflowpo"
    task: str = "sst2"
    task_options: dict[str, Any] = {}  # loader options, e.g. {"rendering": "gpo"}
    data_seed: int | None = Field(None, ge=0)
    target: str = DEFAULT_TARGET
    prompt_lm: str | None = None  # methods with a trainable prompt-LM (GFlowPO, PPO, sampling)
    optimizer_model: str | None = None  # methods with an optimiser LLM (GPO, ...)
    val_split: str = "dev"
    test_split: str = "test"
    test_examples: int | None = Field(None, ge=1)  # a fixed subsample of the test split (None: all)
    # Early stopping on the best validation score (runs/stopping.py); None: off.
    patience: int | None = Field(None, ge=1)  # steps without a higher best validation score
    target_score: float | None = Field(None, ge=0, le=1)  # stop once the best validation score reaches it
    # Dollars (costs/): a hard limit on the search's spend, and prices in $ per 1M tokens by model spec.
    max_usd: float | None = Field(None, gt=0)
    prices: dict[str, tuple[float, float]] = {}
    # Selection (recipe/objective.py, recipe/demos.py): val accuracy - length_penalty x prompt tokens
    # (None: off, 0: lengths recorded only); k demonstrations from train tried with the chosen instruction.
    length_penalty: float | None = Field(None, ge=0)
    demos: int = Field(0, ge=0)
    demo_trials: int = Field(8, ge=1)  # k-subsets tried on validation
    demo_search: Literal["after"] = "after"
    hyperparameters: dict[str, Any] = {}
    # Also log the run to MLflow (tracking/): an observer, it changes nothing the run does. None: off.
    mlflow_uri: str | None = None

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


def layered(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The one precedence rule of every command: each layer overrides the ones before it, and a value
    of None means "not given" (a flag left out), never "set to None"."""
    out: dict[str, Any] = {}
    for layer in layers:
        out.update({k: v for k, v in (layer or {}).items() if v is not None})
    return out


def parse_sets(items: Iterable[str], flag: str = "--set") -> dict[str, Any]:
    """`key=value` items (a YAML value each) as a mapping."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PromptfluxError(f"{flag} expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_run(
    file: Mapping[str, Any],
    flags: Mapping[str, Any],
    *,
    task_options: Mapping[str, Any] | None = None,
    sets: Mapping[str, Any] | None = None,
    preset: str | None = None,
) -> RunSpec:
    """A new run's spec. Precedence: defaults < the file < the file's section for the method (and its
    `hyperparameters`) < flags < `--set`. `flags` holds run fields and, under "seed", the method seed."""
    fields = layered(file, {k: v for k, v in flags.items() if k != "seed"})
    if task_options:
        fields["task_options"] = {**fields.get("task_options", {}), **task_options}
    name = fields.pop("method", None) or "gflowpo"
    section = layered(fields.pop("hyperparameters", None), fields.pop(name, None))
    overrides = layered(section, {"seed": flags.get("seed")}, sets)
    return make_spec(name, preset or "default", overrides, **fields)


def check_resume_flags(given: Mapping[str, Any]) -> None:
    """`--resume` takes the run from its config.yaml: flags that would change the run are an error."""
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
    if named:
        changeable = ", ".join(dict.fromkeys(RESUME_CHANGES.values()))
        raise PromptfluxError(
            f"--resume continues the run its config.yaml describes; {', '.join(named)} cannot change "
            f"it (only {changeable}, the budgets upwards); start a new run to change more"
        )


# What `--resume` may change: budgets (raised only) and how to reach the models, never what runs.
RESUME_CHANGES = {
    "max_target_calls": "--max-calls",  # --max-target-calls
    "max_optimizer_calls": "--max-optimizer-calls",
    "max_wall_seconds": "--max-wall-seconds",
    "max_usd": "--max-usd",
    "device": "--device",
    "api_key_env": "--api-key-env",
    "target_api_key_env": "--target-api-key-env",
    "optimizer_api_key_env": "--optimizer-api-key-env",
    "timeout": "--timeout",
    "max_retries": "--retries",
    "mlflow_uri": "--mlflow-uri",
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
