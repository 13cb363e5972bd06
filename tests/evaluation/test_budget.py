from __future__ import annotations

import pytest

from promptflux.errors import BudgetExhausted
from promptflux.evaluation.budget import Budget, BudgetLimits
from promptflux.types import Usage


def test_room_counts_down_and_snapshot_reports_counters():
    b = Budget(BudgetLimits(target_calls=10))
    assert b.room("target") == 10 and b.room("optimizer") is None
    b.charge("target", Usage(4, 100, 0))
    b.charge("optimizer", Usage(1, 50, 20))
    assert b.room("target") == 6
    snap = b.snapshot()
    assert snap["target_calls"] == 4 and snap["target_prompt_tokens"] == 100
    assert snap["optimizer_completion_tokens"] == 20 and snap["wall_seconds"] >= 0


def test_token_limit_closes_the_role():
    b = Budget(BudgetLimits(optimizer_tokens=60))
    b.charge("optimizer", Usage(1, 50, 20))
    assert b.room("optimizer") == 0


def test_wall_time_limit_raises():
    b = Budget(BudgetLimits(wall_seconds=5), elapsed_before=10)
    with pytest.raises(BudgetExhausted, match="wall-time"):
        b.check()


def test_wall_time_stops_the_search_but_not_the_final_selection():
    b = Budget(BudgetLimits(wall_seconds=5), elapsed_before=10)
    with pytest.raises(BudgetExhausted):
        b.room("target")
    assert b.room("selection") is None
