"""Early stopping on the best validation score, and why a run ended.

    after each step:  best validation score so far (the driver's `best_val`)
        target:   best >= target_score                       -> stop ("target")
        patience: no improvement for `patience` steps        -> stop ("patience")

"Improved" means strictly higher than the best of every earlier step; the first step with a
validated prompt counts as an improvement. With patience N a run whose best last rose at step s stops
after step s + N. The state (best, its step, the reason) is part of the driver's checkpoint, so a
run killed after stopping early and resumed stays stopped and goes straight to its final selection.

Every finished run records why it ended in result.json's `ended`: `budget` (a hard budget ran out),
`steps` (the method did all its steps), `patience` or `target`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REASONS = ("budget", "steps", "patience", "target")


@dataclass(frozen=True)
class StopRule:
    """None disables a criterion. Scores are the task's validation accuracy, in [0, 1]."""

    patience: int | None = None
    target_score: float | None = None

    @property
    def active(self) -> bool:
        return self.patience is not None or self.target_score is not None


class EarlyStopping:
    """Follows the best validation score step by step and says when the rule is met."""

    def __init__(self, rule: StopRule = StopRule()) -> None:
        self.rule = rule
        self.best: float | None = None
        self.best_step = -1  # the step at which `best` was reached
        self.reason: str | None = None  # "patience" or "target" once stopped
        self.message: str | None = None
        self.step: int | None = None  # the step after which the run stopped

    def update(self, step: int, best_val: float | None) -> str | None:
        """Record the best validation score after `step`; returns the reason to stop, or None."""
        if self.reason is not None:
            return self.reason
        if best_val is not None and (self.best is None or best_val > self.best):
            self.best, self.best_step = best_val, step
        rule = self.rule
        if rule.target_score is not None and self.best is not None and self.best >= rule.target_score:
            self._stop(
                step, "target", f"target score {rule.target_score:g} reached (best val {self.best:.3f})"
            )
        elif rule.patience is not None and step - self.best_step >= rule.patience:
            best = "none" if self.best is None else f"{self.best:.3f}"
            since = "no step" if self.best_step < 0 else f"step {self.best_step}"
            self._stop(
                step, "patience", f"best val {best} not improved for {rule.patience} steps (since {since})"
            )
        return self.reason

    def _stop(self, step: int, reason: str, message: str) -> None:
        self.reason, self.message, self.step = reason, message, step

    def event(self) -> dict[str, Any]:
        """The `early_stop` event's fields."""
        return {
            "reason": self.reason,
            "message": self.message,
            "step": self.step,
            "best_val": self.best,
            "best_step": self.best_step,
            "patience": self.rule.patience,
            "target_score": self.rule.target_score,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "reason": self.reason,
            "message": self.message,
            "step": self.step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.best_step = int(state["best_step"])
        self.reason, self.message = state["reason"], state["message"]
        self.step = None if state["step"] is None else int(state["step"])


def ended(
    budget_stop: str | None, stopping: EarlyStopping | None, steps_done: int, total_steps: int
) -> dict[str, Any]:
    """result.json's `ended`: why the run ended, in words, and after how many steps."""
    if budget_stop:
        return {"reason": "budget", "message": budget_stop, "steps": steps_done, "of": total_steps}
    if stopping is not None and stopping.reason is not None:
        return {
            "reason": stopping.reason,
            "message": stopping.message,
            "steps": steps_done,
            "of": total_steps,
        }
    return {
        "reason": "steps",
        "message": f"finished its {total_steps} steps",
        "steps": steps_done,
        "of": total_steps,
    }


def describe_end(end: dict[str, Any] | None) -> str:
    """One line for reports: 'stopped early after step 5 of 20: best val 0.750 not improved for 3 steps'."""
    if not end:
        return ""
    if end["reason"] in ("patience", "target"):
        return f"stopped early after {end['steps']} of {end['of']} steps: {end['message']}"
    if end["reason"] == "budget":
        return f"stopped on the budget after {end['steps']} of {end['of']} steps: {end['message']}"
    return end["message"]
