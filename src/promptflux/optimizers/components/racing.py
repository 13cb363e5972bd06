"""The racing knobs of a method config, shared by every method that can race (evaluation/racing.py).

`racing: true` races the method's scoring of new candidates where it has one (GPO, APE halving, OPRO,
EvoPrompt: blocks of `race_block` examples, a candidate dropped once a paired test at `race_alpha` says
it is worse than the best) and the run driver's validation of its candidates (every method with these
fields, GFlowPO included). Off by default: an unraced run behaves exactly as before.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from promptflux.evaluation.racing import RaceSettings, RaceTest
from promptflux.optimizers.presets import PresetConfig


class RacingFields(PresetConfig):
    """Racing knobs (off by default)."""

    racing: bool = Field(
        False,
        description="Race candidates on blocks of examples and stop scoring those a paired test says are "
        "worse than the best (search scoring and validation); dropped ones keep a partial score.",
    )
    race_block: int = Field(8, ge=1, description="Racing: examples per block (tests run between blocks).")
    race_alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="Racing: one-sided level of the test that drops a candidate."
    )
    race_test: RaceTest = Field(
        "ttest", description="Racing: ttest (paired t-test, as CAPO) or sign (exact sign test)."
    )

    def race_settings(self) -> RaceSettings | None:
        """The race to run, or None when racing is off."""
        if not self.racing:
            return None
        return RaceSettings(block=self.race_block, alpha=self.race_alpha, test=self.race_test)


def race_settings(config: Any) -> RaceSettings | None:
    """A method config's race settings; None for a method without racing knobs or with racing off."""
    return config.race_settings() if isinstance(config, RacingFields) else None
