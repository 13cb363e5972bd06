"""Replay buffer: the best prompts seen so far, with everything needed to train on them again for free.

An entry keeps the sampled token ids (the trajectory: log q and log p_ref are recomputed on exactly
those ids under the current meta-prompt) and the prompt's training accuracy and per-example scores
(so a replayed prompt is never sent to the target LM again). Its log prior and log reward are the
values at insertion time; they rank entries but a trainer recomputes both before training on one.

Rules: at most `capacity` entries; one entry per prompt text (a better one replaces it); when full,
the worst entry by `rank_by` leaves, the oldest first among equals (which keeps the buffer moving
when many prompts tie, e.g. on accuracy).

Sampling modes (`sample(k, rng, mode)`, always without replacement):
- "uniform": every entry equally likely (the reference);
- "rank":    p proportional to 1 / rank under `rank_by` (rank 1 = best), a mild, scale-free preference;
- "softmax": p proportional to exp(log R / temperature); log R spans |D_train| nats per unit of
             log-accuracy, so use a temperature of that order or it picks the single best entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from promptflux.optimizers.gflowpo.config import ReplayRank, ReplaySampling


@dataclass(frozen=True)
class ReplayEntry:
    """One scored prompt. `scores` are per training example, in the evaluator's example order."""

    text: str
    token_ids: tuple[int, ...]
    accuracy: float
    scores: tuple[float, ...]
    log_prior: float
    log_reward: float
    step: int

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a replay entry needs a non-empty prompt text")
        if not self.token_ids:
            raise ValueError(f"replay entry {self.text!r} has no token ids")
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"accuracy must be in [0, 1], got {self.accuracy} for {self.text!r}")
        if not (math.isfinite(self.log_prior) and math.isfinite(self.log_reward)):
            raise ValueError(
                f"non-finite log prior / reward ({self.log_prior}, {self.log_reward}) for {self.text!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["token_ids"] = list(self.token_ids)
        out["scores"] = list(self.scores)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplayEntry:
        return cls(
            text=str(data["text"]),
            token_ids=tuple(int(t) for t in data["token_ids"]),
            accuracy=float(data["accuracy"]),
            scores=tuple(float(s) for s in data["scores"]),
            log_prior=float(data["log_prior"]),
            log_reward=float(data["log_reward"]),
            step=int(data["step"]),
        )


class ReplayBuffer:
    """Top-`capacity` prompts by `rank_by`, unique by text, in insertion order."""

    def __init__(self, capacity: int = 1000, rank_by: ReplayRank = "log_reward") -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        if rank_by not in ("log_reward", "accuracy"):
            raise ValueError(f"rank_by must be 'log_reward' or 'accuracy', got {rank_by!r}")
        self.capacity = capacity
        self.rank_by: ReplayRank = rank_by
        self._entries: dict[str, tuple[ReplayEntry, int]] = {}  # text -> (entry, insertion number)
        self._next_seq = 0

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, text: object) -> bool:
        return text in self._entries

    def __iter__(self) -> Iterator[ReplayEntry]:
        return (entry for entry, _ in self._entries.values())

    def get(self, text: str) -> ReplayEntry | None:
        found = self._entries.get(text)
        return found[0] if found else None

    @property
    def entries(self) -> list[ReplayEntry]:
        return list(self)

    def key(self, entry: ReplayEntry) -> float:
        """The number entries are ranked by (higher is better)."""
        return entry.log_reward if self.rank_by == "log_reward" else entry.accuracy

    def best(self, n: int | None = None) -> list[ReplayEntry]:
        """Entries best first (older first among equals)."""
        ranked = sorted(self._entries.values(), key=lambda pair: (-self.key(pair[0]), pair[1]))
        return [entry for entry, _ in ranked[:n]]

    # ------------------------------------------------------------------ writing
    def add(self, entry: ReplayEntry) -> bool:
        """Insert `entry`; returns whether it is in the buffer afterwards."""
        known = self._entries.get(entry.text)
        if known is not None:
            if self.key(entry) <= self.key(known[0]):
                return False
            self._entries[entry.text] = (entry, known[1])  # better duplicate: replace, keep age
            return True
        self._entries[entry.text] = (entry, self._next_seq)
        self._next_seq += 1
        if len(self._entries) > self.capacity:
            worst = min(self._entries.values(), key=lambda pair: (self.key(pair[0]), pair[1]))
            del self._entries[worst[0].text]
            return worst[0] is not entry
        return True

    def extend(self, entries: Sequence[ReplayEntry]) -> int:
        """Insert several entries; returns how many were kept at insertion time."""
        return sum(self.add(e) for e in entries)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        k: int,
        rng: np.random.Generator,
        mode: ReplaySampling = "uniform",
        temperature: float = 1.0,
    ) -> list[ReplayEntry]:
        """min(k, len) distinct entries drawn with `rng` under `mode` (see the module docstring)."""
        entries = self.entries
        k = min(k, len(entries))
        if k <= 0:
            return []
        probs = self._probabilities(entries, mode, temperature)
        picks = rng.choice(len(entries), size=k, replace=False, p=probs)
        return [entries[i] for i in picks]

    def _probabilities(
        self, entries: list[ReplayEntry], mode: ReplaySampling, temperature: float
    ) -> np.ndarray | None:
        if mode == "uniform":
            return None
        if mode == "rank":
            keys = np.array([self.key(e) for e in entries])
            order = np.argsort(-keys, kind="stable")  # insertion order breaks ties
            ranks = np.empty(len(entries))
            ranks[order] = np.arange(1, len(entries) + 1)
            weights = 1.0 / ranks
        elif mode == "softmax":
            if temperature <= 0:
                raise ValueError(f"softmax replay temperature must be positive, got {temperature}")
            logits = np.array([e.log_reward for e in entries]) / temperature
            weights = np.exp(logits - logits.max())
        else:
            raise ValueError(f"unknown replay sampling mode {mode!r}; use uniform, rank or softmax")
        return weights / weights.sum()

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (entries in insertion order, with their ages)."""
        return {
            "capacity": self.capacity,
            "rank_by": self.rank_by,
            "next_seq": self._next_seq,
            "entries": [{**entry.to_dict(), "seq": seq} for entry, seq in self._entries.values()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ReplayBuffer:
        buffer = cls(int(state["capacity"]), state["rank_by"])
        for row in state["entries"]:
            entry = ReplayEntry.from_dict(row)
            buffer._entries[entry.text] = (entry, int(row["seq"]))
        buffer._next_seq = int(state["next_seq"])
        return buffer
