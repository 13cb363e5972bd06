"""Racing (evaluation/racing.py) on a scripted target whose right drops are known in advance."""

from __future__ import annotations

import math

import pytest

from promptflux.errors import BudgetExhausted, ConfigError
from promptflux.evaluation import Budget, BudgetLimits, Evaluator, OutputCache, RaceSettings, race
from promptflux.evaluation.stats import paired_t_p, sign_test_p, student_t_sf
from tests.evaluation.racing_target import ScriptedTarget, numbered_task

RIGHT, WRONG, EVEN = "Answer right.", "Answer wrong.", "Answer the even ones."


def evaluator(n: int = 32, *, target: ScriptedTarget | None = None, **kw) -> Evaluator:
    return Evaluator(numbered_task(n), target or ScriptedTarget(), cache=OutputCache(), **kw)


def test_a_prompt_wrong_everywhere_is_dropped_after_one_block_with_block_size_calls():
    ev = evaluator(32)
    out = race(ev, [RIGHT, WRONG], "train", RaceSettings(block=8))
    right, wrong = out.results[RIGHT], out.results[WRONG]
    assert wrong.dropped and wrong.dropped_by == RIGHT and wrong.examples == 8 and wrong.total == 32
    assert wrong.score.mean == 0.0 and wrong.p_value == pytest.approx(0.5**8)  # zero variance: sign test
    assert not right.dropped and right.examples == 32 and right.score.mean == 1.0
    assert ev.model.sent == 32 + 8 == out.calls == ev.budget.used["target"].calls
    assert out.dropped == [WRONG] and out.ranked() == [RIGHT, WRONG]


def test_equal_prompts_are_never_dropped():
    ev = evaluator(32)
    twins = [RIGHT, "Also answer right."]
    out = race(ev, twins, "train", RaceSettings(block=8))
    assert not out.dropped and [r.examples for r in out.results.values()] == [32, 32]
    assert ev.model.sent == 64


def test_the_test_and_its_level_decide_when_a_half_right_prompt_is_dropped():
    # EVEN is right on 4 of each 8 examples, RIGHT on all: differences are four 1s and four 0s per block.
    at_05 = race(evaluator(32), [RIGHT, EVEN], "train", RaceSettings(block=8, alpha=0.05))
    assert at_05.results[EVEN].examples == 8  # t = 2.65, df 7: p = 0.017
    strict = race(evaluator(32), [RIGHT, EVEN], "train", RaceSettings(block=8, alpha=0.001))
    assert strict.results[EVEN].examples == 16  # p = 0.017 after 8, 0.0007 after 16
    sign = race(evaluator(32), [RIGHT, EVEN], "train", RaceSettings(block=8, test="sign"))
    assert sign.results[EVEN].examples == 16  # 4 wins of 4: p = 0.0625; then 8 of 8: p = 0.004
    assert strict.results[EVEN].score.mean == 0.5


def test_a_lone_prompt_is_scored_in_one_go_and_the_last_block_is_never_tested():
    ev = evaluator(20)
    out = race(ev, [WRONG], "train", RaceSettings(block=8))
    assert not out.results[WRONG].dropped and out.results[WRONG].examples == 20 and ev.model.sent == 20
    out = race(evaluator(8), [RIGHT, WRONG], "train", RaceSettings(block=8))
    assert not out.dropped  # one block only: nothing left to save


def test_a_second_race_reuses_every_answer_and_makes_no_call():
    ev = evaluator(32)
    first = race(ev, [RIGHT, WRONG, EVEN], "train", RaceSettings(block=8))
    sent = ev.model.sent
    again = race(ev, [RIGHT, WRONG, EVEN], "train", RaceSettings(block=8))
    assert ev.model.sent == sent
    assert again.results == first.results


def test_a_known_incumbent_races_for_free_and_an_unknown_one_is_left_out():
    ev = evaluator(32)
    ev.evaluate([RIGHT], "train")  # the best so far, paid for in full
    sent = ev.model.sent
    out = race(ev, [WRONG], "train", RaceSettings(block=8), incumbents=[RIGHT])
    assert list(out.results) == [WRONG] and out.results[WRONG].examples == 8
    assert ev.model.sent - sent == 8 == out.calls
    out = race(evaluator(32), [EVEN], "train", RaceSettings(block=8), incumbents=[RIGHT])
    assert out.results[EVEN].examples == 32 and out.calls == 32  # RIGHT unknown: not paid for, not raced


def test_a_known_prompt_is_scored_whole_and_never_dropped():
    ev = evaluator(32)
    ev.evaluate([WRONG], "train")
    out = race(ev, [RIGHT, WRONG], "train", RaceSettings(block=8))
    assert not out.results[WRONG].dropped and out.results[WRONG].examples == 32


def test_the_budget_counts_only_calls_made_and_a_stopped_race_resumes_without_paying_twice(tmp_path):
    uninterrupted = evaluator(32)
    whole = race(uninterrupted, [RIGHT, WRONG, EVEN], "train", RaceSettings(block=8))
    # Block 1 of the three (24 calls; WRONG and EVEN are dropped), 6 of RIGHT's block 2, then a stop.
    ledger = OutputCache(tmp_path / "ledger.sqlite")
    target = ScriptedTarget()
    budget = Budget(BudgetLimits(target_calls=30))
    ev = evaluator(32, target=target, ledger=ledger, budget=budget)
    with pytest.raises(BudgetExhausted):
        race(ev, [RIGHT, WRONG, EVEN], "train", RaceSettings(block=8))
    assert target.sent == 30 == budget.used["target"].calls
    resumed_budget = Budget(BudgetLimits(target_calls=100))
    resumed = evaluator(32, target=target, ledger=ledger, budget=resumed_budget)
    out = race(resumed, [RIGHT, WRONG, EVEN], "train", RaceSettings(block=8))
    assert out.results == whole.results
    assert target.sent == uninterrupted.model.sent  # nothing paid twice across the stop
    assert budget.used["target"].calls + resumed_budget.used["target"].calls == target.sent


def test_paired_tests_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for t, df in [(2.65, 7), (-1.2, 3), (0.0, 5), (10.0, 2), (0.3, 40), (3.0, 1)]:
        assert student_t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9)
    diffs = [1, 0, 1, 1, 0, -1, 1, 0.5]
    assert paired_t_p(diffs) == pytest.approx(stats.ttest_1samp(diffs, 0, alternative="greater").pvalue)
    assert sign_test_p([1, 1, 1, -1, 0]) == pytest.approx(stats.binomtest(3, 4, alternative="greater").pvalue)
    assert paired_t_p([0, 0, 0]) == 1.0 and paired_t_p([1]) == 1.0
    assert math.isclose(paired_t_p([1] * 5), 1 / 32)  # zero variance: the sign test decides


@pytest.mark.parametrize(
    ("kw", "says"),
    [({"block": 0}, "race block must be at least 1"), ({"alpha": 1.5}, "race alpha must be between 0 and 1")],
)
def test_bad_settings_are_one_line_errors(kw, says):
    with pytest.raises(ConfigError, match=says) as e:
        RaceSettings(**kw)
    assert "\n" not in str(e.value)
