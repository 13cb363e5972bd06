"""`--max-usd`: a hard dollar budget on the search, charged from the token counts the run records.

The dollars spent are a pure function of the budget's token counters (the same counters the ledger,
the checkpoint and the event log restore on resume) and the run's prices, so a resumed run recounts
them exactly. Like the call budgets, the dollar limit bounds the search (target and optimiser calls);
validation and test scoring always complete and are shown apart. Before each chunk of target or
optimiser calls the budget allows only as many calls as the remaining dollars cover at the average
cost per call so far (one call while nothing is known), so a run ends within about one call of its
limit, with `stopped` saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from promptflux.costs.prices import Price, usd
from promptflux.errors import BudgetExhausted, ConfigError
from promptflux.evaluation.budget import Budget, BudgetLimits

SEARCH_ROLES = ("target", "optimizer")


@dataclass
class PricedBudget(Budget):
    """A Budget that also prices its token counters; `max_usd` (None: no limit) bounds the search."""

    max_usd: float | None = None
    prices: dict[str, Price | None] = field(default_factory=dict)  # by role

    def role_usd(self, role: str) -> float:
        u = self.used[role]
        return usd(u.prompt_tokens, u.completion_tokens, self.prices.get(role))

    def search_usd(self) -> float:
        return sum(self.role_usd(role) for role in SEARCH_ROLES)

    def room(self, role: str) -> int | None:
        rooms = super().room(role)
        if role not in SEARCH_ROLES or self.max_usd is None or self.prices.get(role) is None:
            return rooms
        spent = self.search_usd()
        if spent >= self.max_usd:
            raise BudgetExhausted(
                f"dollar budget of ${self.max_usd:g} reached (${spent:.4f} spent on the search)"
            )
        u = self.used[role]
        per_call = self.role_usd(role) / u.calls if u.calls else None
        affordable = 1 if not per_call else max(1, math.floor((self.max_usd - spent) / per_call))
        return affordable if rooms is None else min(rooms, affordable)

    def snapshot(self) -> dict:
        out = super().snapshot()
        out["search_usd"] = round(self.search_usd(), 6)
        out["selection_usd"] = round(self.role_usd("selection"), 6)
        return out


def make_budget(
    limits: BudgetLimits,
    *,
    max_usd: float | None,
    prices: dict[str, Price],
    target: str,
    optimizer: str | None,
) -> Budget:
    """The run's budget: a plain Budget, or a PricedBudget when prices or a dollar limit are given."""
    if max_usd is None and not prices:
        return Budget(limits)
    if max_usd is not None and target not in prices and (optimizer is None or optimizer not in prices):
        models = " or ".join(repr(m) for m in (target, optimizer) if m)
        raise ConfigError(
            f"--max-usd needs a price for {models}: --price {target}=IN/OUT (dollars per 1M tokens)"
        )
    by_role = {
        "target": prices.get(target),
        "selection": prices.get(target),
        "optimizer": prices.get(optimizer) if optimizer else None,
    }
    return PricedBudget(limits, max_usd=max_usd, prices=by_role)
