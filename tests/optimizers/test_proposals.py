"""The shared ask/parse/retry loop: one completion per call, deterministic ids, retries, check hook."""

from __future__ import annotations

import itertools

import pytest

from promptflux.optimizers.components.proposals import (
    ProposalSettings,
    propose,
    proposed,
    sample_id,
    shown_answer,
    stage_code,
    tally,
)
from promptflux.optimizers.gpo.config import GPOConfig
from promptflux.optimizers.opro import OPROConfig
from promptflux.types import SamplingParams
from tests.helpers import toy_generation_task, toy_sentiment_task
from tests.optimizers.fakes import ScriptedOptimizer, tags

SETTINGS = ProposalSettings(SamplingParams(temperature=1.0, max_new_tokens=32), parse_retries=2)


def test_sample_ids_are_unique_per_stage_step_slot_and_attempt():
    keys = list(itertools.product((0, 1, "ape"), (0, 7), (0, 999), (0, 1, 999)))
    ids = [sample_id(step, slot, attempt, stage) for stage, step, slot, attempt in keys]
    assert len(set(ids)) == len(ids)
    assert sample_id(3, 2, 1) == (3 * 1000 + 2) * 1000 + 1  # stage 0: the ids GPO runs always used
    assert stage_code("ape") == stage_code("ape") != 0
    with pytest.raises(ValueError, match="out of range"):
        sample_id(0, 1000, 0)
    assert max(ids) < 2**63 and sample_id(999_999, 999, 999, "ape-resample") < 2**63
    with pytest.raises(ValueError, match="stage number"):
        stage_code(-1)


def test_replies_are_pre_filled_with_the_opening_tag_and_configs_pass_their_settings_through():
    ask = ScriptedOptimizer(lambda r, i: "<START>Only a start")
    [slot] = propose(ask, [("m", 0)], step=0, settings=SETTINGS)
    assert all(r.prefill == "<START>" for r in ask.requests) and slot.dropped == "unparseable"
    lenient = OPROConfig(accept_unterminated=True, reply_prefill="<START> ").proposal_settings()
    assert (lenient.prefill, lenient.accept_unterminated) == ("<START> ", True)
    [slot] = propose(
        ScriptedOptimizer(lambda r, i: "<START>Only a start"), [("m", 0)], step=0, settings=lenient
    )
    assert slot.prompt == "Only a start" and slot.attempts == 1
    gpo = GPOConfig(max_prompt_words=9).proposal_settings(check_retries=5, rejected_as="over_limit")
    assert (gpo.max_words, gpo.check_retries, gpo.rejected_as, gpo.prefill) == (9, 5, "over_limit", "<START>")


def test_the_method_seed_enters_every_sample_id_so_seeds_never_share_cached_replies():
    assert sample_id(3, 2, 1, seed=0) == sample_id(3, 2, 1)  # seed 0: the ids runs always used
    ids = {sample_id(step, slot, 0, "s", seed) for step in range(3) for slot in range(3) for seed in range(4)}
    assert len(ids) == 36 and max(ids) < 2**63
    assert sample_id(1, 1, 0, "s", 7) == sample_id(1, 1, 0, "s", 7)  # a redone step asks the same
    requests = []
    for seed in (0, 1):
        ask = ScriptedOptimizer(lambda r, i: tags("p"))
        propose(ask, [("m", 0)], step=0, settings=OPROConfig(seed=seed).proposal_settings())
        requests += ask.requests
    assert requests[0].prompt == requests[1].prompt and requests[0].sample_id != requests[1].sample_id


def test_one_completion_per_call_with_ids_that_are_the_same_when_the_step_is_redone():
    def run() -> ScriptedOptimizer:
        ask = ScriptedOptimizer(lambda r, i: tags(f"Prompt {r.sample_id}."))
        propose(ask, [("first", 0), ("second", 1), ("third", 5)], step=4, settings=SETTINGS, stage="s")
        return ask

    a, b = run(), run()
    assert [r.prompt for r in a.requests] == ["first", "second", "third"]  # each slot its own message
    assert all(r.n == 1 and r.params.temperature == 1.0 and r.chat for r in a.requests)
    assert [r.sample_id for r in a.requests] == [r.sample_id for r in b.requests]
    assert [r.sample_id for r in a.requests] == [sample_id(4, s, 0, "s") for s in (0, 1, 5)]


def test_unparseable_replies_are_re_asked_with_a_note_counted_and_finally_dropped():
    replies = {0: ["no tags", "<START>cut off", tags("Fine.")], 1: ["nope"] * 3}
    ask = ScriptedOptimizer(lambda r, i: replies[r.sample_id // 1000 % 1000][r.sample_id % 1000])
    slots = propose(ask, [("m", 0), ("m", 1)], step=0, settings=SETTINGS)
    good, bad = slots
    assert good.prompt == "Fine." and good.attempts == 3
    assert good.parse_failures == ["no_tags", "unterminated"]
    assert bad.prompt is None and bad.dropped == "unparseable" and bad.attempts == 3  # 1 + 2 retries
    second = [r.prompt for r in ask.requests if r.sample_id == sample_id(0, 0, 1)]
    assert second == ["m\n\nWrap the prompt in <START> and <END>."]
    assert tally(slots) == {"optimizer_requests": 6, "parse_failures": 5, "dropped": 1}
    assert good.record()["parse_failures"] == ["no_tags", "unterminated"]


def test_the_check_hook_re_asks_with_its_note_and_drops_what_it_never_accepts():
    def check(prompt: str) -> str | None:
        return None if prompt.endswith("!") else "End with an exclamation mark."

    ask = ScriptedOptimizer(lambda r, i: tags("Shout!") if i == 2 else tags("No."))
    settings = ProposalSettings(SETTINGS.params, check_retries=1, rejected_as="too_quiet")
    first, second = propose(ask, [("m", 0), ("m", 1)], step=0, settings=settings, check=check)
    assert first.prompt == "Shout!" and first.parsed == ["No.", "Shout!"] and len(first.rejections) == 1
    assert ask.requests[2].prompt == "m\n\nEnd with an exclamation mark."
    # slot 1's retry (call 3) is still refused: with one check retry it is then dropped
    assert second.prompt is None and second.dropped == "too_quiet" and second.attempts == 2
    assert second.parsed == ["No.", "No."] and second.record()["rejections"] == 2


def test_proposed_keeps_each_prompt_once_in_slot_order_and_slot_indices_must_be_unique():
    ask = ScriptedOptimizer(lambda r, i: tags(["B.", "A.", "B."][i]))
    slots = propose(ask, [("m", 0), ("m", 1), ("m", 2)], step=0, settings=SETTINGS)
    assert proposed(slots) == ["B.", "A."]
    with pytest.raises(ValueError, match="unique"):
        propose(ask, [("m", 0), ("m", 0)], step=0, settings=SETTINGS)


def test_greedy_requests_carry_no_sample_id():
    ask = ScriptedOptimizer(lambda r, i: tags("X."))
    propose(ask, [("m", 3)], step=2, settings=ProposalSettings(SamplingParams(temperature=0.0)))
    assert ask.requests[0].sample_id == 0


def test_shown_answers_are_label_words_for_classification_and_targets_otherwise():
    sentiment, upper = toy_sentiment_task(), toy_generation_task()
    assert shown_answer(sentiment, sentiment.split("train")[0]) == "positive"
    assert shown_answer(upper, upper.split("train")[0]) == "CAT"
