"""ProTeGi: errors shown to the gradients, the expansion fan-out, the bandits, checkpoints, a real run."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

from promptflux.errors import ConfigError
from promptflux.evaluation import Budget
from promptflux.optimizers.components.bandits import rejection_schedule, select, successive_rejects, ucb
from promptflux.optimizers.protegi import ProTeGiConfig, ProTeGiMethod
from promptflux.optimizers.registry import METHODS
from promptflux.runs import read_events
from promptflux.types import GenRequest
from tests.helpers import NEGATIVE, POSITIVE
from tests.optimizers.fakes import (
    ScriptedOptimizer,
    make_evaluator,
    run_quick,
    sentiment_task,
    tags,
)

KEYWORD = "Judge the sentiment."  # the only prompt the KeywordTarget answers right on every review
CASE = re.compile(r"Input: (.*)\nThe model answered: (.*)\nThe correct answer: (.*)")


def slot_of(request: GenRequest) -> int:
    return request.sample_id // 1000 % 1000


def kind(request: GenRequest) -> str:
    if "What is wrong with the instruction?" in request.prompt:
        return "gradient"
    if "A reviewer traced the mistakes" in request.prompt:
        return "edit"
    assert "new version of this instruction" in request.prompt
    return "paraphrase"


def numbered(request: GenRequest, i: int) -> str:
    """Distinct, traceable replies: 'Reason 3.', 'Edit 5.', 'Paraphrase 11.' by request kind and slot."""
    return tags(f"{kind(request).capitalize().replace('Gradient', 'Reason')} {slot_of(request)}.")


def with_keyword(request: GenRequest, i: int) -> str:
    """Like `numbered`, but edit slot 1 is the keyword prompt: one good successor among weak ones."""
    if kind(request) == "edit" and slot_of(request) == 1:
        return tags(KEYWORD)
    return numbered(request, i)


def make(config: ProTeGiConfig, reply=numbered, budget: Budget | None = None) -> ProTeGiMethod:
    task = sentiment_task(per_label=12)
    return ProTeGiMethod(
        config, make_evaluator(budget, task), ScriptedOptimizer(reply), train=task.split("train")
    )


def asked(protegi: ProTeGiMethod, what: str) -> list[GenRequest]:
    return [r for r in protegi.ask.requests if kind(r) == what]


def test_gradient_requests_show_only_wrong_answers_with_the_prediction_and_the_reference():
    protegi = make(ProTeGiConfig(minibatch=10, errors_per_gradient=3, num_gradients=2, mc_paraphrases=0))
    summary = protegi.step(0)  # the initial prompt '' makes the KeywordTarget say "negative" throughout
    gradients = asked(protegi, "gradient")
    assert len(gradients) == 2 and all(r.n == 1 for r in gradients)
    for request in gradients:
        assert "(no instruction" in request.prompt
        cases = CASE.findall(request.prompt)
        assert len(cases) == 3  # errors_per_gradient of the wrong answers, never a right one
        assert all(x.split(" #")[0] in POSITIVE for x, _, _ in cases)
        assert all((answer, reference) == ("negative", "positive") for _, answer, reference in cases)
        assert not any(text in request.prompt for text in NEGATIVE)
    assert summary["errors_shown"] == 6
    assert CASE.findall(gradients[0].prompt) != CASE.findall(gradients[1].prompt)  # drawn per request


def test_a_prompt_without_errors_gets_no_gradient():
    protegi = make(ProTeGiConfig(initial_prompt=KEYWORD, num_gradients=3))
    summary = protegi.step(0)
    assert protegi.ask.requests == [] and summary["errors_shown"] == 0 and protegi.candidates() == [KEYWORD]


def test_each_reason_is_asked_for_edits_and_each_edit_for_paraphrases():
    config = ProTeGiConfig(num_gradients=2, edits_per_gradient=2, mc_paraphrases=3)
    protegi = make(config)
    summary = protegi.step(0)
    edits, paraphrases = asked(protegi, "edit"), asked(protegi, "paraphrase")
    assert len(edits) == 2 * 2 and len(paraphrases) == 2 * 2 * 3
    for request in edits:  # shown the reason of its own gradient, and the same errors that gradient saw
        gradient = slot_of(request) // 2
        assert f"Reason {gradient}." in request.prompt
        (source,) = [r for r in asked(protegi, "gradient") if slot_of(r) == gradient]
        assert CASE.findall(request.prompt) == CASE.findall(source.prompt)
    for request in paraphrases:
        assert f"Edit {slot_of(request) // 3}." in request.prompt and "Input:" not in request.prompt
    assert summary["new_prompts"] == 4 + 12 and summary["arms"] == 1 + 16
    assert summary["optimizer_requests"] == 2 + 4 + 12 and summary["gradients"] == 2


def test_candidates_are_deduplicated_and_the_beam_is_not_proposed_again():
    def reply(request: GenRequest, i: int) -> str:
        if kind(request) == "edit":
            return tags(["Classify.", KEYWORD][slot_of(request) % 2])
        return tags(KEYWORD) if kind(request) == "paraphrase" else numbered(request, i)

    protegi = make(ProTeGiConfig(initial_prompt="Classify.", num_gradients=3, mc_paraphrases=2), reply)
    summary = protegi.step(0)
    assert summary["edits"] == 2 and summary["paraphrases"] == 1  # distinct replies among 3 and 6
    assert summary["new_prompts"] == 1 and summary["arms"] == 2  # the beam prompt is not an arm twice
    assert protegi.candidates() == [KEYWORD, "Classify."]


@pytest.mark.parametrize("selection", ["ucb", "successive_rejects"])
def test_the_beam_never_exceeds_beam_size_and_the_keyword_prompt_survives(selection):
    config = ProTeGiConfig(beam_size=2, num_gradients=3, selection=selection, pulls_per_step=60)
    protegi = make(config, with_keyword)
    for step in range(3):
        summary = protegi.step(step)
        assert len(protegi.candidates()) <= 2 and summary["arms"] > 2
        assert protegi.candidates()[0] == KEYWORD and protegi.means[KEYWORD] == 1.0
        assert summary["best_train"] == 1.0


@pytest.mark.parametrize("selection", ["ucb", "successive_rejects"])
def test_the_bandit_spends_at_most_its_pulls_on_the_target(selection):
    budget = Budget()
    config = ProTeGiConfig(minibatch=8, num_gradients=2, selection=selection, pulls_per_step=30, pull_batch=3)
    protegi = make(config, with_keyword, budget)
    summary = protegi.step(0)
    assert summary["pulls"] <= 30 and (selection == "successive_rejects" or summary["pulls"] == 30)
    errors = 8  # step 0 scores the one beam prompt on its minibatch
    assert errors < budget.used["target"].calls <= errors + 30 * 3


def test_ucb_pulls_the_best_arm_most():
    means = {"best": 0.9, "good": 0.6, "fair": 0.5, "poor": 0.2}

    def pull(prompts, batch):  # noisy rewards: 4 coin flips per pull, fixed by (arm, batch)
        return [np.random.default_rng([len(p), batch]).random(4) < means[p] for p in prompts]

    result = ucb(list(means), budget=80, pull=pull, exploration=1.0)
    pulls = {p: arm.pulls for p, arm in result.arms.items()}
    assert result.pulls == 80 and all(n >= 1 for n in pulls.values())
    assert max(pulls, key=pulls.__getitem__) == "best" and pulls["best"] > 2 * pulls["poor"]
    assert result.ranking[0] == "best"


def test_successive_rejects_keeps_the_best_and_ranks_the_rejected_last():
    means = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.3, "e": 0.7}

    def pull(prompts, batch):
        return [[means[p]] for p in prompts]

    result = successive_rejects(list(means), budget=40, keep=2, pull=pull)
    assert result.ranking == ["b", "e", "c", "d", "a"] and result.pulls <= 40
    assert result.arms["b"].pulls == result.arms["e"].pulls > result.arms["a"].pulls >= 1


def test_rejection_schedules_stay_within_the_budget_and_pull_every_arm():
    for arms, keep, budget in itertools.product(range(2, 30), range(1, 6), (30, 64, 160, 1000)):
        if not keep < arms <= budget:
            continue
        counts = rejection_schedule(arms, keep, budget)
        assert len(counts) == arms - keep and counts[0] >= 1 and counts == sorted(counts)
        assert sum(counts) + keep * counts[-1] <= budget
    with pytest.raises(ValueError, match="keep < arms"):
        rejection_schedule(3, 1, 2)


def test_a_budget_smaller_than_the_arms_pulls_the_incumbents_first():
    seen = []

    def pull(prompts, batch):
        seen.extend(prompts)
        return [[0.5] for _ in prompts]

    for strategy in ("ucb", "successive_rejects"):
        seen.clear()
        result = select(strategy, ["beam", "x", "y", "z"], budget=2, keep=1, pull=pull)
        assert seen == ["beam", "x"] and result.ranking == ["beam", "x", "y", "z"]
    with pytest.raises(ValueError, match="distinct"):
        select("ucb", ["a", "a"], budget=2, keep=1, pull=pull)


def test_a_restored_optimizer_takes_the_same_next_step():
    for selection in ("ucb", "successive_rejects"):
        config = ProTeGiConfig(beam_size=2, num_gradients=2, selection=selection, pulls_per_step=24)
        first = make(config, with_keyword)
        first.step(0)
        second = make(config, with_keyword)
        second.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as a checkpoint stores it
        before = len(first.ask.requests)
        assert second.step(1) == first.step(1)
        assert [r.prompt for r in second.ask.requests] == [r.prompt for r in first.ask.requests[before:]]
        assert second.state_dict() == first.state_dict()


def test_config_presets_baselines_and_registration():
    default, quick = ProTeGiConfig.from_preset("default"), ProTeGiConfig.from_preset("quick")
    assert (default.steps, default.beam_size, default.minibatch, default.selection) == (6, 4, 16, "ucb")
    assert quick.steps < default.steps and quick.pulls_per_step < default.pulls_per_step
    with pytest.raises(ConfigError, match="at most 1000"):
        ProTeGiConfig.from_preset("default", beam_size=100, num_gradients=10)
    with pytest.raises(ConfigError, match="selection"):
        ProTeGiConfig.from_preset("default", selection="thompson")
    assert METHODS["protegi"].config is ProTeGiConfig
    assert METHODS["protegi"].uses == frozenset({"optimizer_model"})
    assert make(ProTeGiConfig()).baselines() == {}
    assert make(ProTeGiConfig(initial_prompt="Classify.")).baselines() == {"initial prompt": "Classify."}


@pytest.mark.parametrize("optimizer", ["tiny-random", "tagging"])
def test_a_run_through_the_recipe_ends_with_a_result(tmp_path, monkeypatch, optimizer):
    """Tiny random target; the optimiser is the tiny random model (replies never parse) or a tagger."""
    result = run_quick("protegi", optimizer, tmp_path, monkeypatch, [KEYWORD, "Read the mood."])
    assert result["method"] == "protegi" and set(result["prompts"]) == {"chosen", "no instruction"}
    events = tmp_path / "run" / "events.jsonl"
    steps = list(read_events(events, kind="protegi_step"))
    assert len(steps) == ProTeGiConfig.quick().steps == len(list(read_events(events, kind="step")))
    slots = [s for e in steps for part in ("gradients", "edits", "paraphrases") for s in e[part]]
    assert result["budget"]["optimizer_calls"] == sum(s["attempts"] for s in slots)
    assert all(len(e["next"]) <= ProTeGiConfig.quick().beam_size for e in steps)
    if optimizer == "tagging":
        assert result["budget"]["target_calls"] > 0
        assert {p for e in steps for p in e["next"]} <= {"", KEYWORD, "Read the mood."}
