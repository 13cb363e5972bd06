"""Prompt length as an objective: selection score = validation accuracy - length_penalty x prompt tokens.

A shorter prompt costs less at every call it serves, so a run may trade a little validation accuracy
for fewer tokens. The penalty applies where the driver selects (the best validated instruction, then
the demonstrations), so it works for every method; the searches themselves still rank on accuracy.

Tokens are the instruction's (and any demonstrations') tokens with the target's tokenizer when it is
on disk, else characters / 4 (costs/tokens.py, without loading weights); result.json says which. The
empty instruction has 0 tokens. `length_penalty: 0` records the lengths (Pareto view) and still
selects on accuracy alone; off (None) records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from promptflux.costs.tokens import TokenCounter


@dataclass(frozen=True)
class LengthObjective:
    penalty: float  # accuracy points given up per prompt token
    count: Callable[[str], int]  # tokens of bare text
    basis: str  # how tokens are counted, as result.json says it

    @classmethod
    def for_target(cls, penalty: float, target: str) -> LengthObjective:
        """Counting with the target's tokenizer (or the documented characters / 4 estimate)."""
        counter = TokenCounter(target)
        return cls(penalty, counter.words, counter.basis)

    def tokens(self, prompt: str, demos: str = "") -> int:
        """Tokens of the instruction and the rendered demonstration block (0 for neither)."""
        text = "\n\n".join(t for t in (prompt.strip(), demos) if t)
        return self.count(text) if text else 0

    def score(self, accuracy: float, tokens: int) -> float:
        return accuracy - self.penalty * tokens

    def describe(self) -> dict[str, Any]:
        """result.json's `selection`: what the chosen prompt was selected on."""
        used = "val - length_penalty * prompt_tokens" if self.penalty > 0 else "val"
        return {"score": used, "length_penalty": self.penalty, "tokens": self.basis}

    def annotate(self, rows: dict[str, dict[str, Any]], tokens: dict[str, int]) -> None:
        """Add each result row's prompt tokens and penalised validation score (raw `val` is kept)."""
        for name, row in rows.items():
            row["prompt_tokens"] = tokens[name]
            row["val_score"] = None if row["val"] is None else self.score(row["val"], tokens[name])
