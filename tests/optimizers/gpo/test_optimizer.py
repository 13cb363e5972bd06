"""The GPO loop with a scripted optimiser LLM and a target whose accuracy depends on the prompt's words."""

from __future__ import annotations

from promptflux.evaluation import Budget
from promptflux.optimizers.gpo import GPOConfig
from promptflux.optimizers.gpo.method import GPOMethod
from promptflux.runs.events import EventLog, read_events
from promptflux.types import GenRequest
from tests.optimizers.fakes import ScriptedOptimizer, make_evaluator, tags


def make(config: GPOConfig, ask: ScriptedOptimizer, budget: Budget | None = None) -> GPOMethod:
    evaluator = make_evaluator(budget)
    train = evaluator.task.split("train")
    return GPOMethod(
        config,
        evaluator,
        ask,
        train=train,
        dev=train,
        examples=[("a fine film", "positive")],
        placement_note="The prompt is placed before each input.",
        embedder=None,
    )


def test_a_better_candidate_becomes_current_and_the_best_is_never_lost():
    replies = iter(["Read the mood.", "Judge the sentiment.", "Say something.", "Judge the sentiment."])
    ask = ScriptedOptimizer(lambda r, i: tags(next(replies, "Be vague.")))
    gpo = make(GPOConfig(steps=2, candidates=4, retrieval="recency", initial_prompt="Answer."), ask)
    summary = gpo.step(0)
    assert gpo.trajectory.current.prompt == "Judge the sentiment." and summary["best_dev"] == 1.0
    assert summary["candidates"] == 3 and summary["new_prompts"] == 3  # the duplicate is scored once
    gpo.step(1)  # only "Be vague." (0.5) comes back: it becomes current, the best stays the result
    assert gpo.trajectory.current.prompt == "Be vague."
    assert gpo.candidates()[0] == "Judge the sentiment."
    assert gpo.baselines() == {"initial prompt": "Answer."}


def test_each_call_asks_for_one_completion_with_its_own_sample_id():
    ask = ScriptedOptimizer(lambda r, i: tags(f"Prompt number {i}."))
    gpo = make(GPOConfig(steps=2, candidates=8, retrieval="recency", schedule="none"), ask)
    gpo.step(0)
    gpo.step(1)
    assert len(ask.requests) == 16 and all(r.n == 1 for r in ask.requests)
    assert len({r.sample_id for r in ask.requests}) == 16
    assert all(r.params.temperature == 1.0 for r in ask.requests)


def test_a_candidate_over_the_edit_limit_is_re_requested_and_the_distance_is_logged():
    def reply(request: GenRequest, i: int) -> str:
        if "limit is" in request.prompt:  # the retry note: comply with a two-word change
            return tags("Judge the sentiment now.")
        return tags("An entirely different and much longer prompt that rewrites everything here.")

    ask = ScriptedOptimizer(reply)
    config = GPOConfig(
        steps=4,
        candidates=1,
        retrieval="none",
        schedule="fixed",
        limit_init=3,
        initial_prompt="Judge it now.",
    )
    gpo = make(config, ask)
    summary = gpo.step(0)
    assert summary["limit"] == 3 and summary["over_limit"] == 1 and summary["max_distance"] == 2
    assert len(ask.requests) == 2
    assert "You may change up to 3 words." in ask.requests[0].prompt
    assert "changed 11 words of the current prompt; the limit is 3" in ask.requests[1].prompt
    assert gpo.trajectory.current.prompt == "Judge the sentiment now."


def test_a_candidate_still_over_the_limit_after_its_retries_is_dropped():
    ask = ScriptedOptimizer(lambda r, i: tags("one two three four five six seven eight nine ten"))
    config = GPOConfig(
        steps=2, candidates=2, retrieval="none", schedule="fixed", limit_init=2, edit_retries=2
    )
    gpo = make(config, ask)
    summary = gpo.step(0)
    assert len(ask.requests) == 2 * 3  # first try + 2 retries per candidate
    assert summary["dropped"] == 2 and summary["candidates"] == 0
    assert gpo.trajectory.current.prompt == config.initial_prompt  # nothing usable: stay put


def test_unparseable_replies_are_retried_counted_and_never_crash():
    outputs = iter(["no tags at all", "<START>   <END>", "<START>cut off before the end", tags("Sentiment?")])
    ask = ScriptedOptimizer(lambda r, i: next(outputs))
    config = GPOConfig(steps=2, candidates=1, retrieval="none", schedule="none", parse_retries=3)
    gpo = make(config, ask)
    summary = gpo.step(0)
    assert summary["parse_failures"] == 3 and summary["dropped"] == 0
    assert "Wrap the prompt in <START> and <END>." in ask.requests[1].prompt
    assert gpo.trajectory.current.prompt == "Sentiment?"


def test_garbage_forever_ends_the_step_with_every_slot_dropped():
    ask = ScriptedOptimizer(lambda r, i: "I cannot help with that.")
    gpo = make(GPOConfig(steps=1, candidates=3, retrieval="none", parse_retries=1), ask)
    summary = gpo.step(0)
    assert summary["dropped"] == 3 and summary["parse_failures"] == 6 and len(ask.requests) == 6


def test_the_next_prompt_is_the_best_candidate_not_chosen_before():
    replies = ["Judge the sentiment.", "Answer nicely.", "Judge the sentiment.", "Read the mood."]
    ask = ScriptedOptimizer(lambda r, i: tags(replies[i]))
    gpo = make(GPOConfig(steps=2, candidates=2, retrieval="none", schedule="none"), ask)
    gpo.step(0)
    assert gpo.trajectory.current.prompt == "Judge the sentiment."
    gpo.step(1)  # the best candidate was already chosen: move to the best one that was not
    assert gpo.trajectory.current.prompt == "Read the mood."
    assert gpo.trajectory.best.prompt == "Judge the sentiment."


def test_scores_are_shown_on_a_0_to_100_scale_with_the_retrieved_history():
    ask = ScriptedOptimizer(lambda r, i: tags(["Read the mood.", "Judge the sentiment.", "Be calm."][i % 3]))
    gpo = make(GPOConfig(steps=3, candidates=1, retrieval="importance", k=3), ask)
    for step in range(3):
        gpo.step(step)
    last = ask.requests[-1].prompt
    assert "Score: 100.0" in last and "Score: 50.0" in last and "0.5" not in last.split("Current prompt")[0]


def test_reflection_shows_the_wrong_training_answers_and_summarisation_asks_for_a_summary():
    ask = ScriptedOptimizer(lambda r, i: "It ignores the review." if i == 0 else tags("Judge the sentiment."))
    gpo = make(GPOConfig(steps=1, candidates=1, direction="prompt_score_reflection"), ask)
    gpo.step(0)
    reflection, refinement = ask.requests
    assert "Correct answer: positive" in reflection.prompt and "Model output: negative" in reflection.prompt
    assert "It ignores the review." in refinement.prompt
    ask = ScriptedOptimizer(lambda r, i: "Mentioning sentiment helps." if i == 0 else tags("Judge it."))
    gpo = make(GPOConfig(steps=1, candidates=1, retrieval="summarization"), ask)
    gpo.step(0)
    assert "Summarise" in ask.requests[0].prompt and "Mentioning sentiment helps." in ask.requests[1].prompt


def test_state_round_trip_continues_identically():
    ask = ScriptedOptimizer(lambda r, i: tags(f"Judge the sentiment, take {r.sample_id % 7}."))
    config = GPOConfig(steps=3, candidates=2, retrieval="recency")
    first = make(config, ask)
    first.step(0)
    second = make(config, ask)
    second.load_state_dict(first.state_dict())
    assert second.trajectory.state_dict() == first.trajectory.state_dict()
    assert second.step(1) == first.step(1)


def test_steps_come_from_epochs_of_the_training_split():
    gpo = make(GPOConfig(), ScriptedOptimizer(lambda r, i: ""))
    assert gpo.total_steps == 3 * 1  # 3 epochs x ceil(6 / 8)


def test_step_records_and_sample_ids_are_unchanged_by_the_shared_proposal_loop(tmp_path):
    """Slot records keep their keys, a check failure is still "over_limit", ids are (step, slot, attempt)."""
    ask = ScriptedOptimizer(
        lambda r, i: tags("one two three four five six") if r.sample_id % 1000 else "no tags"
    )
    config = GPOConfig(
        steps=2, candidates=2, retrieval="none", schedule="fixed", limit_init=1, edit_retries=0
    )
    gpo = make(config, ask)
    gpo.events = EventLog(tmp_path / "events.jsonl", fsync=False)
    gpo.step(1)
    (event,) = read_events(tmp_path / "events.jsonl", kind="gpo_step")
    for slot in event["slots"]:
        assert set(slot) == {"prompt", "attempts", "parse_failures", "distances", "dropped"}
        assert slot == {
            "prompt": None,
            "attempts": 2,
            "parse_failures": ["no_tags"],
            "distances": [6],
            "dropped": "over_limit",
        }
    ids = sorted(r.sample_id for r in ask.requests)
    assert ids == [(1 * 1000 + slot) * 1000 + attempt for slot in (0, 1) for attempt in (0, 1)]


def test_an_induced_start_asks_for_instructions_from_demonstrations_and_starts_from_the_best():
    def reply(request: GenRequest, i: int) -> str:
        if "What instruction were they following?" in request.prompt:
            assert "Input: a fine film\nOutput: positive" in request.prompt  # induced from the demos
            return tags("Judge the sentiment." if i % 2 else "Say something.")
        return tags("Be vague.")

    ask = ScriptedOptimizer(reply)
    config = GPOConfig(steps=1, candidates=4, retrieval="recency", start="induced", initial_prompt="Answer.")
    gpo = make(config, ask)
    gpo.step(0)
    induced = [r for r in ask.requests if "What instruction were they following?" in r.prompt]
    assert len(induced) == 4 and len({r.sample_id for r in induced}) == 4
    refinement = [r for r in ask.requests if r not in induced]
    # Every start was scored; the best of them (not the fixed initial prompt) was refined.
    assert {"Answer.", "Judge the sentiment."} <= {e.prompt for e in gpo.trajectory.entries}
    assert "Current prompt:\nJudge the sentiment." in refinement[0].prompt
    assert gpo.candidates()[0] == "Judge the sentiment."


def test_the_paper_start_asks_for_no_induction():
    ask = ScriptedOptimizer(lambda r, i: tags("Judge the sentiment."))
    gpo = make(GPOConfig(steps=1, candidates=2, retrieval="recency", initial_prompt="Answer."), ask)
    gpo.step(0)
    assert not any("What instruction were they following?" in r.prompt for r in ask.requests)
