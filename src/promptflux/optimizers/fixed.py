"""A fixed instruction as a method: 0 steps, one candidate.

It lets "no instruction" (the default, `instruction: ""`) and "a human-written instruction" stand in a
comparison as rows of their own, run through the same driver, selection and test scoring as the
search methods. It calls no model but the target, and only for validation and test.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from promptflux.optimizers.base import Method, MethodContext
from promptflux.optimizers.presets import PresetConfig


class FixedConfig(PresetConfig):
    label: ClassVar[str] = "fixed"

    instruction: str = Field("", description="The instruction to score; '' = no instruction.")
    seed: int = Field(0, description="Unused (no random choices); kept so every method takes a seed.")

    @classmethod
    def presets(cls):
        return {"default": cls, "quick": cls}


class FixedPrompt:
    """StepOptimizer with no steps: the driver validates the one candidate and tests it."""

    name = "fixed"

    def __init__(self, config: FixedConfig) -> None:
        self.config = config

    @property
    def total_steps(self) -> int:
        return 0

    def step(self, step: int) -> dict[str, Any]:
        raise RuntimeError("the fixed method has no steps")

    def candidates(self) -> list[str]:
        return [self.config.instruction]

    def baselines(self) -> dict[str, str]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def build(context: MethodContext, config: FixedConfig) -> FixedPrompt:
    return FixedPrompt(config)


METHOD = Method(
    name="fixed",
    summary="one fixed instruction ('' = no instruction), validated and tested like a found one",
    config=FixedConfig,
    build=build,
)
