"""OPRO: the scored meta-prompt, de-duplication, training-score ranking, checkpoints, and a real run."""

from __future__ import annotations

import json
import re

import pytest

from promptflux.evaluation import Budget
from promptflux.optimizers.components.proposals import shown_answer
from promptflux.optimizers.opro import MARKER, OPROConfig, OPROMethod, meta_prompt
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

KEYWORD = "Judge the sentiment."


def make(config: OPROConfig, ask: ScriptedOptimizer, budget: Budget | None = None) -> OPROMethod:
    task = sentiment_task(per_label=3)
    train = task.split("train")
    return OPROMethod(
        config,
        make_evaluator(budget, task),
        ask,
        train=train,
        exemplars=[(task.template.render(MARKER, ex.input), shown_answer(task, ex)) for ex in train],
    )


def shown(message: str) -> list[tuple[str, int]]:
    """The (instruction, accuracy) pairs of a meta-prompt, in the order shown."""
    pairs = re.findall(r"Instruction: (.*)\nAccuracy: (\d+)", message)
    return [(p, int(a)) for p, a in pairs]


def numbered(request: GenRequest, i: int) -> str:
    return tags(f"Prompt {i}.")


def test_the_meta_prompt_shows_scores_from_0_to_100_lowest_first_and_where_the_instruction_goes():
    replies = iter(["Read the mood.", KEYWORD, "Say something."])
    ask = ScriptedOptimizer(lambda r, i: tags(next(replies, "Be vague.")))
    opro = make(OPROConfig(candidates_per_step=3, exemplars=2), ask)
    opro.step(0)
    assert shown(ask.requests[0].prompt) == [("(empty: no instruction)", 50)]  # the initial prompt, ''
    opro.step(1)
    message = ask.requests[-1].prompt
    scores = [a for _, a in shown(message)]
    assert scores == sorted(scores) and shown(message)[-1] == (KEYWORD, 100)  # best last
    assert message.count(MARKER) == 1 + 2 and message.count("Expected answer: ") == 2
    assert f"{MARKER}\nReview: " in message  # rendered with the task's own template
    assert message.rstrip().endswith("between <START> and <END>.")


def test_at_most_max_shown_prompts_are_shown_and_they_are_the_best():
    ask = ScriptedOptimizer(numbered)
    opro = make(OPROConfig(candidates_per_step=4, max_shown=3, initial_prompt=KEYWORD), ask)
    opro.step(0)
    opro.step(1)
    listed = shown(ask.requests[-1].prompt)
    assert len(listed) == 3 and listed[-1] == (KEYWORD, 100)
    best = sorted(opro.scored.values(), reverse=True)[:3]
    assert sorted(a / 100 for _, a in listed) == sorted(best)


def test_each_step_asks_for_one_completion_per_candidate_at_temperature_1_with_unique_ids():
    ask = ScriptedOptimizer(numbered)
    opro = make(OPROConfig(candidates_per_step=8), ask)
    opro.step(0)
    opro.step(1)
    assert len(ask.requests) == 16 and all(r.n == 1 and r.params.temperature == 1.0 for r in ask.requests)
    assert len({r.sample_id for r in ask.requests}) == 16


def test_duplicates_are_scored_once_and_a_known_prompt_is_never_scored_again():
    budget = Budget()
    ask = ScriptedOptimizer(lambda r, i: tags([KEYWORD, "Read the mood.", KEYWORD][i % 3]))
    opro = make(OPROConfig(candidates_per_step=3), ask, budget)
    summary = opro.step(0)
    assert summary["candidates"] == 2 and summary["new_prompts"] == 2
    calls = budget.used["target"].calls
    assert calls == 3 * 6  # the initial prompt and the two new ones, on all six training examples
    summary = opro.step(1)  # the same three replies again: nothing new, nothing paid
    assert summary["new_prompts"] == 0 and budget.used["target"].calls == calls
    assert list(opro.scored) == ["", KEYWORD, "Read the mood."]


def test_the_search_moves_toward_the_keyword_prompt_and_ranks_candidates_by_training_score():
    def reply(request: GenRequest, i: int) -> str:
        best = shown(request.prompt)[-1][0]  # a hill-climbing optimiser: builds on the best shown
        ladder = {"(empty: no instruction)": "Say something.", "Say something.": "Read the mood."}
        return tags(ladder.get(best, KEYWORD))

    opro = make(OPROConfig(candidates_per_step=2, candidates=3), ScriptedOptimizer(reply))
    best = [opro.step(step)["best_train"] for step in range(3)]
    assert best == [0.5, 0.5, 1.0]
    assert opro.candidates() == [KEYWORD, "", "Say something."]  # shorter first among ties, capped


def test_unparseable_replies_are_retried_and_counted():
    outputs = iter(["no tags", tags(KEYWORD)])
    opro = make(OPROConfig(candidates_per_step=1), ScriptedOptimizer(lambda r, i: next(outputs)))
    summary = opro.step(0)
    assert summary["parse_failures"] == 1 and summary["optimizer_requests"] == 2 and summary["dropped"] == 0


def test_a_restored_optimizer_takes_the_same_next_step():
    def reply(request: GenRequest, i: int) -> str:
        return tags(f"Judge the sentiment, take {request.sample_id % 7}.")

    config = OPROConfig(candidates_per_step=3, exemplars=2)
    first = make(config, ScriptedOptimizer(reply))
    first.step(0)
    second_ask = ScriptedOptimizer(reply)
    second = make(config, second_ask)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    first_ask = first.ask
    assert second.step(1) == first.step(1)
    assert [r.prompt for r in second_ask.requests] == [r.prompt for r in first_ask.requests[-3:]]
    assert second.state_dict() == first.state_dict()


def test_baselines_presets_and_registration():
    assert make(OPROConfig(), ScriptedOptimizer(numbered)).baselines() == {}
    assert make(OPROConfig(initial_prompt="Classify."), ScriptedOptimizer(numbered)).baselines() == {
        "initial prompt": "Classify."
    }
    default, quick = OPROConfig.from_preset("default"), OPROConfig.from_preset("quick")
    knobs = (default.steps, default.candidates_per_step, default.max_shown, default.exemplars)
    assert knobs == (20, 8, 20, 3)
    assert default.initial_prompt == "" and default.temperature == 1.0
    assert quick.steps < default.steps and quick.max_shown == default.max_shown
    assert METHODS["opro"].uses == frozenset({"optimizer_model"})
    assert "Accuracy: 42" in meta_prompt([("x", 0.4167)], [])


@pytest.mark.parametrize("optimizer", ["tiny-random", "tagging"])
def test_a_run_through_the_recipe_ends_with_a_result(tmp_path, monkeypatch, optimizer):
    """Tiny random target; the optimiser is the tiny random model (replies never parse) or a tagger."""
    result = run_quick("opro", optimizer, tmp_path, monkeypatch, [KEYWORD, "Read the mood."])
    assert result["method"] == "opro" and set(result["prompts"]) == {"chosen", "no instruction"}
    events = tmp_path / "run" / "events.jsonl"
    steps = list(read_events(events, kind="opro_step"))
    assert len(steps) == OPROConfig.quick().steps == len(list(read_events(events, kind="step")))
    assert result["budget"]["optimizer_calls"] == sum(s["attempts"] for e in steps for s in e["slots"])
    scored = list(read_events(events, kind="eval"))
    assert scored and all(e["split"] == "train" for e in scored)
    if optimizer == "tagging":
        assert {e["prompt"] for e in scored} == {"", KEYWORD, "Read the mood."}  # each scored once
