"""What a comparison is: tasks x methods x seeds at one shared budget, as a YAML-loadable spec.

The spec is saved as the comparison folder's `compare.yaml`, so a rerun with only `--out` continues
the same grid and `--report-only` can rebuild the report. Every trial gets the same budget, models
and test subsample; only the method (with its preset and `set` overrides) and its `seed` vary.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from promptflux.config_files import read_yaml_mapping
from promptflux.errors import ConfigError
from promptflux.models.defaults import DEFAULT_TARGET
from promptflux.recipe.config import Budgets, ModelAccess, layered

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a method label is a folder name


class MethodEntry(BaseModel):
    """One method of the grid: a registered method, its preset and overrides, under a unique label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str | None = None  # defaults to the name; needed when a method appears twice
    preset: str | None = None  # defaults to the comparison's preset
    set: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.label or self.name

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not LABEL.match(value):
            raise ValueError(f"label {value!r} must be letters, digits, '_', '.' or '-' (a folder name)")
        return value

    @field_validator("set")
    @classmethod
    def _no_seed(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "seed" in value:
            raise ValueError("'seed' comes from the comparison's `seeds`, not from `set`")
        return value


class CompareSpec(ModelAccess, Budgets):
    """A comparison grid and everything its trials share (saved as compare.yaml, without secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[str] = Field(min_length=1)
    task_options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # task name -> loader options
    data_seed: int | None = Field(None, ge=0)
    methods: list[MethodEntry] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    preset: str = "default"
    max_target_calls: int = Field(ge=1)  # required: the budget every trial shares
    target: str = DEFAULT_TARGET
    prompt_lm: str | None = None
    optimizer_model: str | None = None
    test_examples: int | None = Field(None, ge=1)
    jobs: int | None = Field(None, ge=1)
    # Early stopping of every trial on its best validation score (runs/stopping.py); None: off.
    patience: int | None = Field(None, ge=1)
    target_score: float | None = Field(None, ge=0, le=1)
    # Selection of every trial (recipe/objective.py, recipe/demos.py): length penalty, demonstrations.
    length_penalty: float | None = Field(None, ge=0)
    demos: int = Field(0, ge=0)
    demo_trials: int = Field(8, ge=1)
    # Dollars (costs/): a hard limit on each trial's search, and prices in $ per 1M tokens by model spec.
    max_usd: float | None = Field(None, gt=0)
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # Log the comparison to MLflow: a parent run, one nested run per trial (tracking/). None: off.
    mlflow_uri: str | None = None

    @field_validator("methods", mode="before")
    @classmethod
    def _method_names(cls, value: Any) -> Any:
        if isinstance(value, list):  # a bare name is short for {name: ...}
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CompareSpec:
        for items, what in ((self.tasks, "task"), (self.seeds, "seed")):
            repeated = sorted({str(x) for x in items if items.count(x) > 1})
            if repeated:
                raise ValueError(f"{what} {repeated[0]} is listed twice")
        labels = [m.key for m in self.methods]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(
                f"method {repeated[0]!r} appears twice; give the repeats distinct labels, "
                f"e.g. {{name: {repeated[0]}, label: {repeated[0]}-2}}"
            )
        unknown = sorted(set(self.task_options) - set(self.tasks))
        if unknown:
            raise ValueError(f"task_options names {unknown[0]!r}, which is not in `tasks`")
        return self

    def method(self, label: str) -> MethodEntry:
        return next(m for m in self.methods if m.key == label)

    def saved(self) -> dict[str, Any]:
        """The spec as compare.yaml holds it (no secrets: API keys are only named by env var)."""
        from promptflux.runs.folder import strip_secrets

        data = strip_secrets(self.model_dump(mode="json"))
        data["methods"] = [strip_secrets(m) for m in data["methods"]]  # strip_secrets skips lists
        return data


def parse_spec(data: dict[str, Any], where: str = "compare spec") -> CompareSpec:
    """Validate a mapping into a CompareSpec; the first problem becomes a one-line ConfigError."""
    try:
        return CompareSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        if first["type"] == "missing" and loc == "max_target_calls":
            msg = "required: the shared budget of target calls (--max-calls N)"
        elif first["type"] == "missing" and loc in ("tasks", "methods"):
            msg = f"required, e.g. --{loc} " + ("sst2,trec" if loc == "tasks" else "fixed,gpo")
        msg = msg.removeprefix("Value error, ")
        raise ConfigError(f"{where}: {loc + ': ' if loc else ''}{msg}") from None


def read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(path, "`tasks: [sst2]`")


def load_spec(path: Path) -> CompareSpec:
    return parse_spec(read_yaml(path), str(path))


def split_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] (the CLI's comma-separated lists)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def apply_sets(data: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    """Apply `--set label.key=value` overrides to the methods of a spec mapping (matched by label, else
    by method name, which then covers every entry of that method)."""
    methods = [{"name": m} if isinstance(m, str) else dict(m) for m in data.get("methods") or []]
    for dotted, value in sets.items():
        who, sep, key = dotted.partition(".")
        if not sep or not who or not key:
            raise ConfigError(f"compare --set expects method.key=value, got {dotted!r}")
        hits = [m for m in methods if m.get("label") == who] or [
            m for m in methods if m.get("name") == who and not m.get("label")
        ]
        hits = hits or [m for m in methods if m.get("name") == who]
        if not hits:
            raise ConfigError(f"--set {dotted}: no method {who!r} in the comparison")
        for m in hits:
            m["set"] = {**(m.get("set") or {}), key: value}
    return {**data, "methods": methods}


def build_spec(
    base: dict[str, Any], flags: dict[str, Any], sets: dict[str, Any], where: str = "compare"
) -> CompareSpec:
    """Precedence (recipe.config.layered, as for a run): built-in defaults < `base` (the --config file,
    or the folder's compare.yaml) < flags < `sets`.

    `flags` holds command-line values (None = not given); --methods replaces the file's method list,
    and `sets` ({"label.key": value}) then override single knobs of the methods. --tasks may narrow
    the file's tasks: the file's options of the tasks left out are dropped with them.
    """
    data = layered(base, flags)
    if flags.get("tasks") is not None and isinstance(base.get("task_options"), dict):
        data["task_options"] = {k: v for k, v in base["task_options"].items() if k in flags["tasks"]}
    if sets:
        data = apply_sets(data, sets)
    return parse_spec(data, where)


def parse_seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in split_list(text)]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, e.g. 0,1,2; got {text!r}") from None
