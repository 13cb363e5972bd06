"""Evaluator on a tiny random model: per-example scores, cache reuse, budget stops with nothing lost."""

from __future__ import annotations

import pytest

from promptflux.errors import BudgetExhausted
from promptflux.evaluation import Budget, BudgetLimits, Evaluator, OutputCache
from promptflux.models import load_model
from promptflux.models.base import LanguageModel
from promptflux.models.tiny import tiny_random_model
from promptflux.tasks import get_task
from promptflux.tasks.metrics import bbh_match
from promptflux.types import Generation, SamplingParams
from tests.helpers import toy_generation_task, toy_sentiment_task

PROMPTS = ["Classify the review.", "Is this review positive?", ""]


@pytest.fixture(scope="module")
def lm():
    return tiny_random_model(seed=0)


def test_scores_are_per_example_and_match_task_scoring(lm):
    task = toy_sentiment_task()
    results = Evaluator(task, lm).evaluate(PROMPTS, "train")
    assert [r.prompt for r in results] == PROMPTS
    for r in results:
        assert len(r.scores) == 6 and set(r.scores) <= {0.0, 1.0}
        assert r.example_ids == tuple(ex.id for ex in task.split("train"))
        assert all(p in task.labels for p in r.predictions)
        low, high = r.ci95
        assert 0.0 <= low <= r.mean <= high <= 1.0


def test_a_scored_pair_is_never_sent_again(lm, tmp_path):
    task = toy_sentiment_task()
    cache = OutputCache(tmp_path / "c.sqlite")
    budget = Budget()
    ev = Evaluator(task, lm, cache=cache, budget=budget)
    first = ev.evaluate(PROMPTS[:2], "train")
    assert budget.used["target"].calls == 12
    calls_before = lm.usage.calls
    again = Evaluator(task, lm, cache=OutputCache(tmp_path / "c.sqlite"), budget=budget).evaluate(
        PROMPTS, "train"
    )
    assert lm.usage.calls - calls_before == 6  # only the third prompt is new
    assert budget.used["target"].calls == 18
    assert [r.scores for r in again[:2]] == [r.scores for r in first]
    assert ev.is_known(PROMPTS[0], task.split("train")) and not ev.is_known("never seen", task.split("train"))


def test_duplicate_prompts_in_one_batch_cost_once(lm):
    budget = Budget()
    Evaluator(toy_sentiment_task(), lm, budget=budget).evaluate(["same", "same"], "train")
    assert budget.used["target"].calls == 6


def test_a_hard_budget_stops_cleanly_and_keeps_what_was_paid_for(lm, tmp_path):
    task = toy_sentiment_task()
    cache = OutputCache(tmp_path / "c.sqlite")
    budget = Budget(BudgetLimits(target_calls=10))
    ev = Evaluator(task, lm, cache=cache, budget=budget, chunk_size=4)
    with pytest.raises(BudgetExhausted):
        ev.evaluate(PROMPTS[:2], "train")  # needs 12 calls
    assert budget.used["target"].calls == 10
    assert len(cache) == 10  # every paid-for answer was stored before stopping
    # With more budget the same evaluation costs only the two missing calls.
    more = Budget(BudgetLimits(target_calls=2))
    Evaluator(task, lm, cache=cache, budget=more).evaluate(PROMPTS[:2], "train")
    assert more.used["target"].calls == 2


def test_generation_tasks_are_scored_by_their_metric(lm):
    task = toy_generation_task()
    (r,) = Evaluator(task, lm).evaluate(["Write the word in capitals."], "train")
    assert len(r.scores) == 3 and r.mean == 0.0  # a random model does not spell CAT
    assert all(isinstance(p, str) for p in r.predictions)


def test_a_run_ledger_charges_shared_cache_hits_once_and_its_spend_can_be_recounted(lm, tmp_path):
    task = toy_sentiment_task()
    shared = OutputCache(tmp_path / "shared.sqlite")
    Evaluator(task, lm, cache=shared).evaluate(PROMPTS[:1], "train")  # another run filled the cache
    sent_before = lm.usage.calls
    ledger, budget = OutputCache(tmp_path / "ledger.sqlite"), Budget()
    ev = Evaluator(task, lm, cache=shared, ledger=ledger, budget=budget)
    ev.evaluate(PROMPTS[:2], "train")
    assert budget.used["target"].calls == 12  # this run needed 12 evaluations ...
    assert lm.usage.calls - sent_before == 6  # ... of which only the 6 new ones reached the model
    ev.evaluate(PROMPTS[:2], "train")
    assert budget.used["target"].calls == 12  # what this run already paid for is free
    assert ledger.usage("target") == budget.used["target"]  # the ledger alone recounts the spend


class Spy(LanguageModel):
    """Passes calls to `lm` and records each batch of generation requests that reached the model."""

    def __init__(self, lm: LanguageModel) -> None:
        super().__init__()
        self.lm, self.name, self.sent = lm, lm.name, []

    def fingerprint(self) -> str:
        return self.lm.fingerprint()

    def _generate(self, requests):
        self.sent.append(list(requests))
        return self.lm._generate(requests)

    def _score(self, requests):
        return self.lm._score(requests)


def test_a_two_round_task_scores_the_answer_turn_and_caches_both_rounds(lm, tmp_path):
    task = get_task("bbh/navigate", rendering="gpo", first_round=SamplingParams(max_new_tokens=6))
    examples = task.split("dev")[:3]
    spy, cache, budget = Spy(lm), OutputCache(tmp_path / "c.sqlite"), Budget()
    progress: list[int] = []
    ev = Evaluator(task, spy, cache=cache, budget=budget)
    (r,) = ev.evaluate(["Walk it through."], examples, on_progress=progress.append)
    assert budget.used["target"].calls == 2 * len(examples)  # both rounds are target calls
    assert sum(progress) == len(examples)  # progress counts finished pairs, not calls
    first, second = spy.sent
    assert [q.prompt for q in first] == [task.request("Walk it through.", ex).prompt for ex in examples]
    assert all(q.params.max_new_tokens == 6 and not q.history for q in first)
    replies = [g.text.strip() for g in lm.generate(first)]  # greedy: what round 1 answered
    assert [q.history for q in second] == [((q.prompt, reply),) for q, reply in zip(first, replies)]
    assert all(q.prompt == task.answer_turn and q.chat for q in second)
    finals = [g.text.strip() for g in lm.generate(second)]
    assert r.predictions == tuple(finals)
    assert r.scores == tuple(bbh_match(p, ex) for p, ex in zip(finals, examples))
    assert ev.is_known("Walk it through.", examples) and not ev.is_known("Other.", examples)

    again = Budget()
    (r2,) = Evaluator(task, spy, cache=OutputCache(tmp_path / "c.sqlite"), budget=again).evaluate(
        ["Walk it through."], examples
    )
    assert again.used["target"].calls == 0 and len(spy.sent) == 2  # nothing new reached the model
    assert (r2.scores, r2.predictions) == (r.scores, r.predictions)


def test_one_round_tasks_make_one_call_per_pair(lm):
    task, budget = get_task("bbh/navigate"), Budget()
    assert task.rounds == 1 and task.follow_up("x", task.split("dev")[0], Generation(("y",))) is None
    Evaluator(task, lm, budget=budget).evaluate(["Answer."], task.split("dev")[:2])
    assert budget.used["target"].calls == 2


@pytest.mark.slow
def test_gpo_rendering_runs_on_the_embedded_model():
    model = load_model("smollm2")
    task = get_task("bbh/navigate", rendering="gpo", first_round=SamplingParams(max_new_tokens=48))
    budget = Budget()
    (r,) = Evaluator(task, model, budget=budget).evaluate(["Think it through."], task.split("dev")[:2])
    assert budget.used["target"].calls == 4
    assert len(r.predictions) == 2 and all(p.strip() for p in r.predictions)
    assert set(r.scores) <= {0.0, 1.0}
