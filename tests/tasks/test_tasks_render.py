"""How tasks turn (prompt, example) into model requests and score outputs."""

from __future__ import annotations

import pytest

from promptflux.errors import ConfigError
from promptflux.tasks import Template, get_task
from promptflux.tasks.metrics import numeric_match, option_match
from promptflux.types import Generation, GenRequest, SamplingParams, ScoreRequest, ScoreResult


def test_classification_request_names_the_field_and_scores_the_labels() -> None:
    task = get_task("sst2")
    example = task.split("train")[0]
    request = task.request("Classify the review.", example)
    assert isinstance(request, ScoreRequest)
    assert request.context == f"Classify the review.\nReview: {example.input}\nSentiment:"
    assert request.continuations == (" negative", " positive")
    assert task.request("", example).context == f"Review: {example.input}\nSentiment:"
    assert get_task("trec").request("", example).context.endswith("\nAnswer type:")


def test_classification_offers_the_gflowpo_reference_rendering() -> None:
    task = get_task("sst2", template="gflowpo")
    example = task.split("train")[0]
    assert task.request("Classify.", example).context == f"Classify. Input : {example.input} Output:"
    assert task.request("", example).context == f"Input : {example.input} Output:"


def test_classification_scoring_picks_argmax_label() -> None:
    task = get_task("trec")
    example = task.split("dev")[0]
    logprobs = [-5.0] * 6
    logprobs[example.label] = -0.1
    assert task.score(example, ScoreResult(tuple(logprobs))) == 1.0
    logprobs[(example.label + 1) % 6] = 0.0
    assert task.score(example, ScoreResult(tuple(logprobs))) == 0.0


def test_instruction_induction_request_and_score() -> None:
    task = get_task("ii/antonyms")
    example = task.split("test")[0]
    request = task.request("Write the opposite.", example)
    assert isinstance(request, GenRequest)
    assert request.prompt == f"Write the opposite.\n\nInput: {example.input}\nOutput:"
    assert task.score(example, Generation((f" {example.target}\n",))) == 1.0
    assert task.score(example, Generation(("banana",))) == 0.0


def test_qa_template_puts_instruction_after_question() -> None:
    task = get_task("bbh/navigate")
    example = task.split("dev")[0]
    request = task.request("Track your position.", example)
    assert request.chat is True
    assert request.params.max_new_tokens == 64
    assert request.prompt == f"{example.input}\n\nTrack your position.\n\nAnswer:"
    assert task.request("", example).prompt == f"{example.input}\n\nAnswer:"
    assert task.score(example, Generation((f"The answer is {example.target}.",))) == 1.0


def test_template_option_overrides_text_and_keeps_chat_flag() -> None:
    task = get_task("mmlu/anatomy", template="Q: {input}\n{prompt}\nA:")
    example = task.split("test")[0]
    request = task.request("Pick one.", example)
    assert request.prompt == f"Q: {example.input}\nPick one.\nA:"
    assert request.chat is True
    plain = get_task("sst2", template=Template("{input} {prompt} It was", chat=False))
    assert plain.request("Hmm.", plain.split("train")[0]).context.endswith("Hmm. It was")


def test_gsm8k_request_allows_reasoning() -> None:
    task = get_task("gsm8k")
    example = task.split("test")[0]
    request = task.request("Let's think step by step.", example)
    assert request.prompt == f"{example.input}\n\nLet's think step by step."
    assert request.params.max_new_tokens == 256 and request.params.stop == ()
    assert task.score(example, Generation((f"... so {int(example.target):,} in total.",))) == 1.0
    assert task.score(example, Generation(("I do not know.",))) == 0.0


def test_gpo_rendering_reasons_first_then_asks_for_the_final_answer() -> None:
    task = get_task("bbh/navigate", rendering="gpo")
    example = task.split("dev")[0]
    opening = task.request("Track your position.", example)
    assert opening.prompt == f"{example.input}\n\nTrack your position." and opening.chat
    assert opening.params == SamplingParams(max_new_tokens=256) and not opening.history
    follow = task.follow_up("Track your position.", example, Generation((" Steps cancel out. Yes. ",)))
    assert follow is not None and follow.chat and follow.prompt == task.answer_turn
    assert follow.history == ((opening.prompt, "Steps cancel out. Yes."),)
    assert follow.params.greedy and follow.params.max_new_tokens == 64
    assert "Yes or No" in task.answer_turn
    assert task.score(example, Generation((f"{example.target}.",))) == 1.0  # the round-2 reply is scored


def test_gpo_rendering_asks_for_each_task_s_answer_format() -> None:
    assert "(A)" in get_task("bbh/date_understanding", rendering="gpo").answer_turn
    assert "number" in get_task("bbh/object_counting", rendering="gpo").answer_turn
    assert "alphabetical" in get_task("bbh/word_sorting", rendering="gpo").answer_turn
    assert "True or False" in get_task("bbh/boolean_expressions", rendering="gpo").answer_turn
    for name in ("mmlu/anatomy", "wsc"):
        task = get_task(name, rendering="gpo")
        assert "(A)" in task.answer_turn and task.metric is option_match
    gsm = get_task("gsm8k", rendering="gpo", first_round=SamplingParams(max_new_tokens=32))
    assert "number" in gsm.answer_turn and gsm.metric is numeric_match and gsm.rounds == 2
    assert gsm.request("", gsm.split("test")[0]).params.max_new_tokens == 32


def test_default_rendering_is_unchanged_and_bad_renderings_are_one_line_errors() -> None:
    for name in ("bbh/navigate", "mmlu/anatomy", "wsc", "gsm8k"):
        task = get_task(name)
        assert task.rounds == 1 and task.answer_turn is None
        assert get_task(name, rendering="qa").request("x", task.split("dev")[0]) == task.request(
            "x", task.split("dev")[0]
        )
    with pytest.raises(ConfigError, match=r"unknown rendering 'cot'; choose one of: qa, gpo$"):
        get_task("wsc", rendering="cot")
    with pytest.raises(ConfigError, match="first_round only applies to rendering='gpo'"):
        get_task("bbh/navigate", first_round=SamplingParams(max_new_tokens=8))
    with pytest.raises(ConfigError, match="needs a non-empty answer_turn and a chat template"):
        get_task("wsc", rendering="gpo", template=Template("{input} {prompt}", chat=False))
    assert "rendering='gpo'" in get_task("bbh/navigate").description
