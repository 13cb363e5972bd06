"""Instruction induction: ask the optimiser LLM which instruction turns shown inputs into outputs.

A component, not a method: APE proposes its whole pool this way, EvoPrompt seeds its population with
it, and GPO can start its trajectory from induced instructions (`start="induced"`) instead of a fixed
initial prompt. The wording is ours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def induction_prompt(demos: Sequence[tuple[str, str]]) -> str:
    """Ask which instruction turns each input into its output."""
    pairs = "\n\n".join(f"Input: {x}\nOutput: {y}" for x, y in demos)
    return (
        "Someone was given one instruction and then wrote the output for each input below.\n\n"
        f"{pairs}\n\n"
        "What instruction were they following? State it as a direct instruction that would let another "
        "person produce these outputs from the inputs. Write only the instruction, between <START> and <END>."
    )


def draw_demos(
    demos: Sequence[tuple[str, str]], count: int, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """The demonstrations one induction request shows: `count` distinct ones drawn with `rng`."""
    picked = rng.choice(len(demos), size=min(count, len(demos)), replace=False)
    return [demos[int(i)] for i in picked]
