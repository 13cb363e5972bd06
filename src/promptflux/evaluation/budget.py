"""Budget accounting shared by the evaluator and the optimizers.

Counters are kept per `Role` (types.py: target, optimizer, selection). A hard
limit stops the run cleanly: callers ask `room()` before dispatching, so work already paid for is
always stored before BudgetExhausted is raised.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from promptflux.errors import BudgetExhausted
from promptflux.types import Role, Usage

ROLES = tuple(Role)  # "selection" counts validation and test scoring, outside the search budget


@dataclass(frozen=True)
class BudgetLimits:
    """None means unlimited. Calls count one per request (one prompt x example for the target)."""

    target_calls: int | None = None
    target_tokens: int | None = None
    optimizer_calls: int | None = None
    optimizer_tokens: int | None = None
    wall_seconds: float | None = None


@dataclass
class Budget:
    limits: BudgetLimits = BudgetLimits()
    used: dict[str, Usage] = field(default_factory=lambda: {role: Usage() for role in ROLES})
    elapsed_before: float = 0.0  # wall time spent in earlier sessions of a resumed run
    _started: float = field(default_factory=time.monotonic, repr=False)

    def charge(self, role: Role, usage: Usage) -> None:
        u = self.used[role]
        self.used[role] = Usage(
            u.calls + usage.calls,
            u.prompt_tokens + usage.prompt_tokens,
            u.completion_tokens + usage.completion_tokens,
        )

    @property
    def wall_seconds(self) -> float:
        return self.elapsed_before + time.monotonic() - self._started

    def room(self, role: Role) -> int | None:
        """How many more calls `role` may make (None: unlimited); 0 once any of its limits is hit.

        The wall-time limit bounds the search ("target", "optimizer"); selection always completes.
        """
        if role != Role.SELECTION:
            self.check()
        limit = getattr(self.limits, f"{role}_calls", None)
        token_limit = getattr(self.limits, f"{role}_tokens", None)
        u = self.used[role]
        if token_limit is not None and u.prompt_tokens + u.completion_tokens >= token_limit:
            return 0
        return None if limit is None else max(0, limit - u.calls)

    def check(self) -> None:
        """Raise BudgetExhausted when the wall-time limit has passed."""
        if self.limits.wall_seconds is not None and self.wall_seconds >= self.limits.wall_seconds:
            raise BudgetExhausted(f"wall-time budget of {self.limits.wall_seconds:.0f} s reached")

    def snapshot(self) -> dict:
        """Counters for the run log and progress display."""
        out: dict = {f"{role}_{k}": v for role in ROLES for k, v in asdict(self.used[role]).items()}
        out["wall_seconds"] = round(self.wall_seconds, 3)
        return out
