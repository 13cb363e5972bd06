"""EvoPrompt: initialisation, roulette, GA elitism, DE replacement, scoring once, checkpoints, a real run."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from promptflux.evaluation import Budget
from promptflux.optimizers.components.proposals import shown_answer
from promptflux.optimizers.evoprompt import EvoPromptConfig, EvoPromptMethod, roulette
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

KEYWORD = "Judge the sentiment."  # dev accuracy 1.0 on the KeywordTarget; any other prompt: 0.5
SEEDS = (KEYWORD, "Read the mood.", "Say no.", "Answer.")
SECTION = re.compile(r"(Instruction A|Instruction B|Best instruction so far|Base instruction):\n(.*)\n")


def slot_of(request: GenRequest) -> int:
    return request.sample_id // 1000 % 1000


def numbered(request: GenRequest, i: int) -> str:
    return tags(f"Child {slot_of(request)}.")


def make(config: EvoPromptConfig, reply=numbered, budget: Budget | None = None) -> EvoPromptMethod:
    task = sentiment_task(per_label=3)
    dev = task.split("train")
    return EvoPromptMethod(
        config,
        make_evaluator(budget, task),
        ScriptedOptimizer(reply),
        dev=dev,
        demos=[(ex.input, shown_answer(task, ex)) for ex in dev],
    )


def test_the_population_starts_from_the_given_prompts_topped_up_by_induction():
    evo = make(EvoPromptConfig(population=5, initial_prompts=(KEYWORD, "Say no.", KEYWORD), demos=2))
    evo.step(0)
    induced = [r for r in evo.ask.requests if "What instruction were they following?" in r.prompt]
    assert len(induced) == 3  # 5 members, 2 distinct prompts given
    assert all(r.prompt.count("Input: ") == 2 for r in induced)
    assert set(evo.scored) >= {KEYWORD, "Say no.", "Child 0.", "Child 1.", "Child 2."}
    assert len(evo.population) == 5 and evo.candidates()[0] == KEYWORD


def test_roulette_draws_distinct_parents_and_favours_the_better_ones():
    rng = np.random.default_rng(0)
    draws = [roulette([0.9, 0.3, 0.1, 0.0], rng) for _ in range(3000)]
    assert all(len(set(d)) == 2 for d in draws)
    firsts = Counter(d[0] for d in draws)
    assert firsts[0] > 2 * firsts[1] > 0 and firsts[1] > firsts[2] > 0 and firsts[3] == 0
    assert Counter(i for d in draws for i in d)[3] == 0  # a zero score is never drawn while others are left
    assert sorted(roulette([0.0, 0.0], rng)) == [0, 1] and roulette([0.7], rng) == [0]


def test_ga_asks_for_population_children_from_roulette_drawn_parents():
    evo = make(EvoPromptConfig(population=4, initial_prompts=SEEDS))
    evo.step(0)
    crossings = [r for r in evo.ask.requests if "Instruction 1:" in r.prompt]
    assert len(crossings) == 4 and all("Combine" in r.prompt and "Mutate" in r.prompt for r in crossings)
    assert len({slot_of(r) for r in crossings}) == 4
    parents = Counter(
        p for r in crossings for p in re.findall(r"Instruction \d:\n(.*)\n", r.prompt) if p in SEEDS
    )
    assert sum(parents.values()) == 8


def test_ga_keeps_the_population_size_and_its_best_members():
    def reply(request: GenRequest, i: int) -> str:  # one good child per generation, the rest weak
        return tags("Judge the sentiment now." if slot_of(request) == 2 else f"Child {i}.")

    budget = Budget()
    evo = make(EvoPromptConfig(population=4, initial_prompts=SEEDS), reply, budget)
    best = []
    for step in range(3):
        summary = evo.step(step)
        best.append(summary["best_dev"])
        assert len(evo.population) == summary["population"] == 4
        assert KEYWORD in evo.population  # elitism: the best parent is never displaced by weaker children
    assert best == [1.0, 1.0, 1.0]
    assert evo.candidates()[:2] == [KEYWORD, "Judge the sentiment now."]
    assert all(evo.scored[p] == 0.5 for p in evo.candidates()[2:])


def test_de_shows_two_donors_the_best_and_the_base_and_replaces_a_base_only_with_a_better_child():
    def reply(request: GenRequest, i: int) -> str:
        slot = slot_of(request)
        if slot == 3:
            return tags(KEYWORD)  # a member already: never duplicated into the population
        return tags(f"Judge the sentiment, take {slot}." if slot % 2 else f"Weak {slot}.")

    evo = make(EvoPromptConfig(variant="de", population=4, initial_prompts=SEEDS), reply)
    summary = evo.step(0)
    members = [KEYWORD, "Read the mood.", "Say no.", "Answer."]  # best first; ties keep the given order
    requests = [r for r in evo.ask.requests if "Base instruction:" in r.prompt]
    assert len(requests) == 4
    for request in requests:
        shown = dict(SECTION.findall(request.prompt))
        base_prompt = members[slot_of(request)]
        assert shown["Base instruction"] == base_prompt and shown["Best instruction so far"] == KEYWORD
        donors = {shown["Instruction A"], shown["Instruction B"]}
        assert len(donors) == 2 and base_prompt not in donors and donors <= set(members)
        assert all(step in request.prompt for step in ("differ", "Mutate", "best instruction", "Cross"))
    # slot 1 (0.5) -> a 1.0 child replaces it; slots 0 and 2 -> weak children (0.5) do not; slot 3's child
    # is the keyword prompt, better than its base but already a member.
    assert evo.population == [KEYWORD, "Judge the sentiment, take 1.", "Say no.", "Answer."]
    assert summary["replaced"] == 1 and summary["new_prompts"] == 3


def test_duplicate_children_and_known_prompts_are_never_scored_again():
    budget = Budget()
    evo = make(EvoPromptConfig(population=4, initial_prompts=SEEDS), lambda r, i: tags("Say no."), budget)
    scored = []
    real = evo.evaluator.evaluate
    evo.evaluator.evaluate = lambda prompts, examples: scored.append(list(prompts)) or real(prompts, examples)
    summary = evo.step(0)
    calls = budget.used["target"].calls
    assert scored == [list(SEEDS)] and calls == 4 * 6  # the four members on six dev examples, once
    assert summary["children"] == 1 and summary["new_prompts"] == 0
    evo.ask.reply = lambda r, i: tags(["Fresh.", "Fresh.", KEYWORD, "Read the mood."][slot_of(r)])
    summary = evo.step(1)
    assert scored[1:] == [["Fresh."]] and budget.used["target"].calls == calls + 6
    assert summary["children"] == 3 and summary["new_prompts"] == 1


def test_unparseable_induction_leaves_no_instruction_as_the_only_member():
    evo = make(EvoPromptConfig(population=3, parse_retries=0), lambda r, i: "no tags at all")
    summary = evo.step(0)
    assert evo.population == [""] and summary["dropped"] == 3 + 3 and summary["parse_failures"] == 6
    assert evo.candidates() == [""]


@pytest.mark.parametrize("variant", ["ga", "de"])
def test_a_restored_optimizer_takes_the_same_next_step(variant):
    def reply(request: GenRequest, i: int) -> str:
        return tags(f"Judge the sentiment, take {request.sample_id % 7}.")

    config = EvoPromptConfig(variant=variant, population=4, initial_prompts=SEEDS[1:])
    first = make(config, reply)
    first.step(0)
    second = make(config, reply)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as a checkpoint stores it
    before = len(first.ask.requests)
    assert second.step(1) == first.step(1)
    assert [r.prompt for r in second.ask.requests] == [r.prompt for r in first.ask.requests[before:]]
    assert second.state_dict() == first.state_dict()


def test_config_presets_and_registration():
    default, quick = EvoPromptConfig.from_preset("default"), EvoPromptConfig.from_preset("quick")
    assert (default.variant, default.population, default.generations, default.initial_prompts) == (
        "ga",
        10,
        10,
        (),
    )
    assert quick.population < default.population and quick.generations < default.generations
    assert EvoPromptConfig.from_preset("quick", initial_prompts=["A.", "B."]).initial_prompts == ("A.", "B.")
    assert METHODS["evoprompt"].config is EvoPromptConfig
    assert METHODS["evoprompt"].uses == frozenset({"optimizer_model"})
    assert make(EvoPromptConfig()).baselines() == {}


@pytest.mark.parametrize(
    ("optimizer", "variant"), [("tiny-random", "ga"), ("tagging", "ga"), ("tagging", "de")]
)
def test_a_run_through_the_recipe_ends_with_a_result(tmp_path, monkeypatch, optimizer, variant):
    """Tiny random target; the optimiser is the tiny random model (replies never parse) or a tagger."""
    proposals = [KEYWORD, "Read the mood.", "Say no."]
    result = run_quick("evoprompt", optimizer, tmp_path, monkeypatch, proposals, variant=variant)
    assert result["method"] == "evoprompt" and set(result["prompts"]) == {"chosen", "no instruction"}
    events = tmp_path / "run" / "events.jsonl"
    steps = list(read_events(events, kind="evoprompt_step"))
    assert len(steps) == EvoPromptConfig.quick().generations == len(list(read_events(events, kind="step")))
    slots = [s for e in [*read_events(events, kind="evoprompt_init"), *steps] for s in e["slots"]]
    assert result["budget"]["optimizer_calls"] == sum(s["attempts"] for s in slots)
    scored = [e["prompt"] for e in read_events(events, kind="eval")]
    assert scored and len(scored) == len(set(scored))  # every prompt scored on dev once
    assert all(e["split"] == "dev" for e in read_events(events, kind="eval"))
    if optimizer == "tagging":
        assert set(scored) == set(proposals) and result["best_prompt"] in proposals
    else:
        assert scored == [""]
