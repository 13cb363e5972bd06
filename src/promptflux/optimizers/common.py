"""What the methods share beyond the proposal loop.

ProposalConfig   the optimiser-LLM knobs of a method config, and the `ProposalSettings` they make
keyed_rng        a random generator fixed by (seed, key), so a redone step draws what it drew before
describe         how a prompt is shown to the optimiser LLM ("" has to be visible as "no instruction")
best_first       prompts ranked by a score, the order in which candidates are offered to validation
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

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
    reply_prefill: str = Field(
        "<START>",
        description="Start of every proposal reply, written for the optimiser by backends that can "
        "continue a reply (local HF models); chat APIs are asked without it.",
    )
    accept_unterminated: bool = Field(
        False,
        description="Take the first line after <START> when a reply never writes <END>, instead of "
        "asking again; for small local optimisers that do not close the tag.",
    )
    seed: int = Field(0, ge=0, description="Seeds every random draw of the method (batches, parents, demos).")

    def proposal_settings(self, **extra: Any) -> ProposalSettings:
        """The proposal loop's settings; `extra` sets the loop's other fields (e.g. check retries)."""
        return ProposalSettings(
            SamplingParams(temperature=self.temperature, max_new_tokens=self.max_new_tokens),
            parse_retries=self.parse_retries,
            max_words=self.max_prompt_words,
            prefill=self.reply_prefill,
            accept_unterminated=self.accept_unterminated,
            seed=self.seed,
            **extra,
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


def best_first(scores: Mapping[str, float], prompts: Iterable[str] | None = None) -> list[str]:
    """`prompts` (default: every scored one) by score, the shorter prompt first among ties."""
    return sorted(scores if prompts is None else prompts, key=lambda p: (-scores[p], len(p)))
