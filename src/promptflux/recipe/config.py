"""The run configuration: one typed `RunSpec`, saved as a run folder's config.yaml, and how it is made.

make_spec(method, preset, overrides, **fields)   a new run's spec, the method's preset resolved
resumed_spec(folder, changes)                    a resumed run's spec, with what --resume may change
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptflux.errors import ConfigError
from promptflux.models.defaults import DEFAULT_OPTIMIZER, DEFAULT_PROMPT_LM, DEFAULT_TARGET
from promptflux.optimizers.registry import get_method
from promptflux.runs import RunFolder

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


# What `--resume` may change: budgets (raised only) and how to reach the models, never what runs.
RESUME_CHANGES = {
    "max_target_calls": "--max-calls",
    "max_optimizer_calls": "--max-optimizer-calls",
    "max_wall_seconds": "--max-wall-seconds",
    "device": "--device",
    "api_key_env": "--api-key-env",
    "timeout": "--timeout",
    "max_retries": "--retries",
}
BUDGETS = ("max_target_calls", "max_optimizer_calls", "max_wall_seconds")


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
