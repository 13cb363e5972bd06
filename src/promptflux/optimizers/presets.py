"""A method's hyper-parameters: one frozen pydantic model with named presets and one-line errors.

Every method config subclasses `PresetConfig`, so `--preset`, `--set key=value` and a YAML file all go
through the same validation, and a typo ends as `ConfigError("GPO config: k: ...")`, not a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from promptflux.errors import ConfigError


class PresetConfig(BaseModel):
    """Base of method configs: frozen, unknown keys rejected, presets by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: ClassVar[str] = "method"  # how errors name the config, e.g. "GFlowPO"

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        """Named starting points; subclasses add theirs (e.g. "reference", "quick")."""
        return {"default": cls}

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides: Any) -> Any:
        """A preset with keys overridden; validation failures become a one-line ConfigError."""
        presets = cls.presets()
        if preset not in presets:
            raise ConfigError(f"unknown {cls.label} preset {preset!r}; choose from {', '.join(presets)}")
        base = presets[preset]().model_dump()
        return cls.validated({**base, **overrides})

    @classmethod
    def validated(cls, values: dict[str, Any]) -> Any:
        """`model_validate` with the one-line error of `from_preset` (for configs read from a run folder)."""
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            raise ConfigError(f"{cls.label} config: {_first_error(err)}") from None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    msg = msg.removeprefix("Value error, ")
    if loc and first["type"] != "extra_forbidden":
        msg += f" (got {first['input']!r})"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{loc + ': ' if loc else ''}{msg}{more}"
