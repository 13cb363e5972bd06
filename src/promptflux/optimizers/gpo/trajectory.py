"""The optimisation trajectory: every scored prompt, which one is current, and which were ever current.

GPO's momentum is drawn from this record. The loop appends the initial prompt, then each step's next
prompt (the best candidate not chosen before). It may also append candidates that were scored but not
taken (`make_current=False`), so that retrieval can show them too.

Rules: one entry per prompt text (a prompt is scored once; appending it again is an error, use
`choose` to make an existing entry current); `best` is the highest score, the earliest entry among
ties, so a later prompt must be strictly better to replace it; `chosen` only grows, so "not chosen
before" holds across the whole run. `state_dict` / `from_state` round-trip through JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrajectoryEntry:
    """One scored prompt. `score` is the dev score in [0, 1]; `step` is the step that produced it."""

    prompt: str
    score: float
    step: int

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("a trajectory entry needs a non-empty prompt")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score} for {self.prompt!r}")
        if self.step < 0:
            raise ValueError(f"step must be >= 0, got {self.step} for {self.prompt!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Trajectory:
    """Scored prompts in insertion order, with the current prompt and the set of prompts chosen so far."""

    def __init__(self) -> None:
        self._entries: list[TrajectoryEntry] = []
        self._index: dict[str, int] = {}  # prompt -> position in _entries
        self._current: int | None = None
        self._chosen: list[str] = []  # in the order they first became current

    # ---------------------------------------------------------------- updates
    def append(self, entry: TrajectoryEntry, *, make_current: bool = True) -> None:
        """Record a newly scored prompt; by default it also becomes the current prompt."""
        if entry.prompt in self._index:
            raise ValueError(f"prompt already in the trajectory: {entry.prompt!r}")
        self._index[entry.prompt] = len(self._entries)
        self._entries.append(entry)
        if make_current:
            self.choose(entry.prompt)

    def choose(self, prompt: str) -> TrajectoryEntry:
        """Make an entry already in the trajectory the current prompt."""
        if prompt not in self._index:
            raise KeyError(f"prompt not in the trajectory: {prompt!r}")
        self._current = self._index[prompt]
        if prompt not in self._chosen:
            self._chosen.append(prompt)
        return self._entries[self._current]

    # ---------------------------------------------------------------- views
    @property
    def entries(self) -> tuple[TrajectoryEntry, ...]:
        return tuple(self._entries)

    @property
    def current(self) -> TrajectoryEntry:
        if self._current is None:
            raise LookupError("the trajectory has no current prompt yet")
        return self._entries[self._current]

    @property
    def best(self) -> TrajectoryEntry:
        """Highest score; the earliest entry among equals."""
        if not self._entries:
            raise LookupError("the trajectory is empty")
        return max(self._entries, key=lambda e: e.score)  # max keeps the first of equal keys

    @property
    def chosen(self) -> frozenset[str]:
        """Prompts that were the current prompt at some point."""
        return frozenset(self._chosen)

    def get(self, prompt: str) -> TrajectoryEntry | None:
        i = self._index.get(prompt)
        return None if i is None else self._entries[i]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, prompt: object) -> bool:
        return prompt in self._index

    def __iter__(self) -> Iterator[TrajectoryEntry]:
        return iter(self._entries)

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (entries, current prompt, chosen prompts in order)."""
        current = None if self._current is None else self._entries[self._current].prompt
        return {
            "entries": [e.to_dict() for e in self._entries],
            "current": current,
            "chosen": list(self._chosen),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Trajectory:
        """Rebuild a trajectory from `state_dict()` output (also after a JSON round trip)."""
        traj = cls()
        for raw in state["entries"]:
            traj.append(TrajectoryEntry(**raw), make_current=False)
        for prompt in state["chosen"]:
            traj.choose(prompt)
        if state["current"] is not None:
            traj.choose(state["current"])
        return traj

    @classmethod
    def from_entries(cls, entries: Iterable[TrajectoryEntry]) -> Trajectory:
        """A trajectory where each entry became current in turn (the last one is current)."""
        traj = cls()
        for entry in entries:
            traj.append(entry)
        return traj
