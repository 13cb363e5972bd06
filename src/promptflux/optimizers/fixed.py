"""A fixed instruction as a method: 0 steps, one candidate. Also the smallest whole method.

It lets "no instruction" (the default, `instruction: ""`) and "a human-written instruction" stand in a
comparison as rows of their own, run through the same driver, selection and test scoring as the
search methods. It calls no model but the target, and only for validation and test.

A new method has the same three parts: a config (a `PresetConfig`: every knob, its presets), a
`SearchMethod` subclass naming itself and writing `step` (here there is none), and one line in
registry.py.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from promptflux.optimizers.base import SearchMethod
from promptflux.optimizers.presets import PresetConfig


class FixedConfig(PresetConfig):
    label: ClassVar[str] = "fixed"

    instruction: str = Field("", description="The instruction to score; '' = no instruction.")
    seed: int = Field(0, description="Unused (no random choices); kept so every method takes a seed.")

    @classmethod
    def presets(cls):
        return {"default": cls, "quick": cls}


class FixedMethod(SearchMethod):
    """No steps: the driver validates the one candidate and tests it."""

    name = "fixed"
    summary = "one fixed instruction ('' = no instruction), validated and tested like a found one"
    Config = FixedConfig
    total_steps = 0

    def candidates(self) -> list[str]:
        return [self.config.instruction]
