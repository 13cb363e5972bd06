"""What the search-style LLM-optimiser methods (ProTeGi, EvoPrompt) share beyond the proposal loop.

ProposalConfig   the optimiser-LLM knobs of a method config, and the `ProposalSettings` they make
keyed_rng        a random generator fixed by (seed, key), so a redone step draws what it drew before
describe         how a prompt is shown to the optimiser LLM ("" has to be visible as "no instruction")
"""

from __future__ import annotations

import zlib

import numpy as np
from pydantic import Field

from promptflux.optimizers.presets import PresetConfig
from promptflux.optimizers.proposals import ProposalSettings
from promptflux.types import SamplingParams

NO_INSTRUCTION = "(no instruction: the model sees only the input)"


class ProposalConfig(PresetConfig):
    """Base of configs whose method asks an optimiser LLM for text in <START> ... <END> tags."""

    temperature: float = Field(1.0, ge=0.0, description="Optimiser sampling temperature.")
    max_new_tokens: int = Field(256, ge=1, description="Longest optimiser reply, in tokens.")
    parse_retries: int = Field(2, ge=0, description="Extra requests for a reply with no parsable answer.")
    max_prompt_words: int = Field(
        200, ge=1, description="Parsed answers with more words are rejected as 'too_long'."
    )
    seed: int = Field(0, ge=0, description="Seeds every random draw of the method (batches, parents, demos).")

    def proposal_settings(self) -> ProposalSettings:
        return ProposalSettings(
            SamplingParams(temperature=self.temperature, max_new_tokens=self.max_new_tokens),
            parse_retries=self.parse_retries,
            max_words=self.max_prompt_words,
        )


def keyed_rng(seed: int, *key: int | str) -> np.random.Generator:
    """A generator fixed by (seed, key): draws never depend on what was drawn before or on resumes."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key]
    return np.random.default_rng([seed, *words])


def pick(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """`min(k, n)` distinct indices of range(n), in the order drawn."""
    return [int(i) for i in rng.choice(n, size=min(k, n), replace=False)]


def describe(prompt: str) -> str:
    """A prompt as the optimiser LLM reads it; the empty prompt is named rather than left blank."""
    return prompt if prompt.strip() else NO_INSTRUCTION
