"""Instruction induction and variation: the two requests that make instructions from nothing but data.

    induction_prompt(demos)   which instruction turns these inputs into these outputs? APE proposes its
                              whole pool this way, EvoPrompt seeds its population with it, and GPO can
                              start its trajectory from induced instructions (`start="induced"`)
    variation_prompt(prompt)  the same instruction, worded differently: APE's resampling rounds and
                              ProTeGi's Monte-Carlo paraphrases

The wording is ours.
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


def variation_prompt(prompt: str) -> str:
    """Ask for a rewording of `prompt` that asks for exactly the same thing."""
    return (
        f"Here is an instruction for a task:\n\n{prompt}\n\n"
        "Write a new version of this instruction: word it differently, but keep what it asks for exactly "
        "the same. Write only the new instruction, between <START> and <END>."
    )
