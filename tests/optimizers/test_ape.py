"""APE: induction meta-prompts, successive halving, UCB, resampling, checkpoints, and a real run."""

from __future__ import annotations

import json

import pytest

from promptflux.errors import ConfigError
from promptflux.evaluation import Budget
from promptflux.optimizers.ape import APEConfig, APEMethod, HalvingRound, halving_plan
from promptflux.optimizers.components.proposals import shown_answer
from promptflux.optimizers.registry import METHODS
from promptflux.runs import read_events
from promptflux.types import GenRequest
from tests.optimizers.fakes import (
    ScriptedOptimizer,
    make_evaluator,
    run_quick,
    sentiment_task,
    tags,
)

KEYWORD = "Judge the sentiment."  # the only prompt the KeywordTarget answers right on every review
OTHERS = ["Say no.", "Answer.", "Reply briefly.", "Classify.", "Be terse.", "Respond.", "Decide."]
PROPOSALS = [*OTHERS[:4], KEYWORD, *OTHERS[4:]]  # the keyword prompt is not first: ties cannot save it


def slot_of(request: GenRequest) -> int:
    return request.sample_id // 1000 % 1000


def by_slot(prompts: list[str]) -> ScriptedOptimizer:
    """Answers every request with prompts[slot]: replies depend on the request, not on call order."""
    return ScriptedOptimizer(lambda r, i: tags(prompts[slot_of(r) % len(prompts)]))


def make(config: APEConfig, ask: ScriptedOptimizer, budget: Budget | None = None) -> APEMethod:
    task = sentiment_task(per_label=12)
    train = task.split("train")
    return APEMethod(
        config,
        make_evaluator(budget, task),
        ask,
        train=train,
        demos=[(ex.input, shown_answer(task, ex)) for ex in train],
    )


def run_all(ape: APEMethod) -> list[dict]:
    return [ape.step(s) for s in range(ape.total_steps)]


def test_halving_plan_halves_prompts_and_doubles_examples_until_train_or_keep():
    assert halving_plan(32, 4, 4, 48) == [HalvingRound(32, 4), HalvingRound(16, 8), HalvingRound(8, 16)]
    assert halving_plan(32, 1, 4, 20) == [
        HalvingRound(32, 4),
        HalvingRound(16, 8),
        HalvingRound(8, 16),
        HalvingRound(4, 20),  # all of train: the last round
    ]
    assert halving_plan(3, 4, 4, 48) == [HalvingRound(3, 4)]  # already no more than `keep`: rank once
    assert halving_plan(8, 1, 50, 10) == [HalvingRound(8, 10)]


def test_each_proposal_sees_its_own_random_demonstrations_from_train():
    ask = by_slot(PROPOSALS)
    ape = make(APEConfig(num_candidates=8, demos=3), ask)
    summary = ape.step(0)
    messages = [r.prompt for r in ask.requests]
    assert len(messages) == 8 and len(set(messages)) == 8 and all(r.n == 1 for r in ask.requests)
    assert all(m.count("Input: ") == 3 and "<START>" in m for m in messages)
    assert "Output: positive" in "".join(messages) and "Output: negative" in "".join(messages)
    assert summary == {
        "phase": "propose",
        "round": 0,
        "proposals": 8,
        "new_prompts": 8,
        "optimizer_requests": 8,
        "parse_failures": 0,
        "dropped": 0,
    }
    assert ape.candidates() == []  # nothing is ranked yet


def test_duplicate_proposals_are_ranked_once():
    ape = make(APEConfig(num_candidates=6, keep=1, first_subset=2), by_slot([KEYWORD, "Say no.", KEYWORD]))
    assert ape.step(0)["proposals"] == 2 and ape.pool == [KEYWORD, "Say no."]


def test_successive_halving_keeps_the_keyword_prompt_and_spends_what_the_schedule_says():
    budget = Budget()
    ape = make(APEConfig(num_candidates=8, keep=1, first_subset=2), by_slot(PROPOSALS), budget)
    first = [ape.train[i] for i in ape.order[:2]]
    assert {ex.label for ex in first} == {0, 1}  # precondition: the keyword prompt wins round 0 outright
    assert ape.total_steps == 1 + 3
    ranks = run_all(ape)[1:]
    assert [s["prompts"] for s in ranks] == [8, 4, 2]
    assert [s["examples"] for s in ranks] == [2, 4, 8]  # the subset doubles every round
    # Subsets are prefixes of one shuffle: survivors are only scored on the examples they have not seen.
    assert budget.used["target"].calls == 8 * 2 + 4 * (4 - 2) + 2 * (8 - 4)
    assert ape.candidates() == [KEYWORD] and ape.scores[KEYWORD] == 1.0
    assert len(ape.ranking) == 2 and set(OTHERS) - set(ape.ranking)  # the rest were dropped on the way


def test_ucb_pulls_the_best_arm_most_and_stays_within_its_pull_budget():
    budget = Budget()
    config = APEConfig(num_candidates=8, ranking="ucb", ucb_pulls=40, ucb_batch=3, ucb_steps=2, keep=2)
    ape = make(config, by_slot(PROPOSALS), budget)
    assert ape.total_steps == 1 + 2
    summaries = run_all(ape)
    assert [s["pulls"] for s in summaries[1:]] == [20, 40]
    pulls = {p: arm.pulls for p, arm in ape.arms.items()}
    assert max(pulls, key=pulls.__getitem__) == KEYWORD
    assert pulls[KEYWORD] > 2 * max(n for p, n in pulls.items() if p != KEYWORD)
    assert all(n >= 1 for n in pulls.values())  # every arm is tried before the bound decides
    assert budget.used["target"].calls <= 40 * 3  # repeated (prompt, example) pairs are free
    assert ape.candidates()[0] == KEYWORD


def test_resampling_asks_for_variations_of_the_top_prompts_and_ranks_them_with_those():
    def reply(request: GenRequest, i: int) -> str:
        if "new version of this instruction" in request.prompt:
            base_prompt = KEYWORD if KEYWORD in request.prompt else "Other"
            return tags(f"{base_prompt.rstrip('.')}, variant {slot_of(request)}.")
        return tags(PROPOSALS[slot_of(request) % len(PROPOSALS)])

    ask = ScriptedOptimizer(reply)
    config = APEConfig(num_candidates=8, keep=2, first_subset=2, resample_rounds=1)
    ape = make(config, ask)
    plan = halving_plan(8, 2, 2, 24), halving_plan(8 + 2, 2, 2, 24)
    assert ape.total_steps == 1 + len(plan[0]) + 1 + len(plan[1])
    for step in range(1 + len(plan[0])):
        ape.step(step)
    top = ape.candidates()
    assert len(top) == 2 and top[0] == KEYWORD
    before = len(ask.requests)
    summary = ape.step(1 + len(plan[0]))
    asked = [r.prompt for r in ask.requests[before:]]
    assert summary["phase"] == "propose" and summary["round"] == 1 and len(asked) == 8
    assert all("new version of this instruction" in m and "Input:" not in m for m in asked)
    assert [sum(p in m for m in asked) for p in top] == [4, 4]  # slots cycle over the top prompts
    assert ape.pool[:2] == top and len(ape.pool) == 2 + 8
    for step in range(2 + len(plan[0]), ape.total_steps):
        ape.step(step)
    assert ape.candidates()[0].startswith("Judge the sentiment")


def test_a_restored_optimizer_takes_the_same_next_step():
    for ranking in ("halving", "ucb"):
        config = APEConfig(num_candidates=8, keep=2, first_subset=2, ranking=ranking, ucb_pulls=12)
        first = make(config, by_slot(PROPOSALS))
        for step in range(2):
            first.step(step)
        second = make(config, by_slot(PROPOSALS))
        second.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as a checkpoint stores it
        assert second.step(2) == first.step(2)
        assert second.state_dict() == first.state_dict()


def test_config_presets_and_registration():
    quick, default = APEConfig.from_preset("quick"), APEConfig.from_preset("default")
    assert quick.num_candidates < default.num_candidates == 32
    assert (quick.ranking, quick.resample_rounds) == (default.ranking, default.resample_rounds)
    with pytest.raises(ConfigError, match="ucb_steps"):
        APEConfig.from_preset("default", ranking="ucb", ucb_pulls=2, ucb_steps=3)
    method = METHODS["ape"]
    assert method.config is APEConfig and method.uses == frozenset({"optimizer_model"})
    assert make(APEConfig(), by_slot(PROPOSALS)).baselines() == {}


@pytest.mark.parametrize("optimizer", ["tiny-random", "tagging"])
def test_a_run_through_the_recipe_ends_with_a_result(tmp_path, monkeypatch, optimizer):
    """Tiny random target; the optimiser is the tiny random model (replies never parse) or a tagger."""
    result = run_quick("ape", optimizer, tmp_path, monkeypatch, PROPOSALS)
    assert result["method"] == "ape" and set(result["prompts"]) >= {"chosen", "no instruction"}
    proposals = list(read_events(tmp_path / "run" / "events.jsonl", kind="ape_propose"))
    attempts = sum(s["attempts"] for e in proposals for s in e["slots"])
    assert result["budget"]["optimizer_calls"] == attempts >= 8
    steps = list(read_events(tmp_path / "run" / "events.jsonl", kind="step"))
    quick = APEConfig.quick()
    assert len(steps) == 1 + len(halving_plan(quick.num_candidates, quick.keep, quick.first_subset, 8))
    assert [s["phase"] for s in steps] == ["propose", "rank", "rank"]
    if optimizer == "tagging":
        assert result["budget"]["target_calls"] > 0 and result["best_prompt"] in PROPOSALS
