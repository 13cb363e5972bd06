"""HF backend on a tiny random Llama: batching and KV reuse must not change a single log-probability."""

from __future__ import annotations

import math

import pytest
import torch

from promptflux.models.hf import HFSettings, LoraSettings
from promptflux.models.tiny import tiny_random_model
from promptflux.types import GenRequest, SamplingParams, ScoreRequest

INSTR = "Decide whether the review below is positive or negative and answer with one word only."
INPUTS = ["a great film", "boring", "the plot was thin but the acting saved it", "meh", "wonderful!"]


@pytest.fixture(scope="module")
def lm():
    return tiny_random_model(seed=0)


def manual_logprob(lm, context: str, continuation: str) -> float:
    """Reference: one unbatched forward over context+continuation, summed token log-probs."""
    ctx = lm.tokenizer.encode(context)
    cont = lm.tokenizer.encode(continuation, add_special_tokens=False)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), -1)
    return sum(logp[len(ctx) - 1 + j, t].item() for j, t in enumerate(cont))


def test_batched_scoring_with_prefix_reuse_matches_one_forward_per_request(lm):
    reqs = [ScoreRequest(f"{INSTR} Input : {x} Output:", (" negative", " positive")) for x in INPUTS]
    results = lm.score(reqs)
    for req, res in zip(reqs, results):
        for cont, lp in zip(req.continuations, res.logprobs):
            assert math.isclose(lp, manual_logprob(lm, req.context, cont), abs_tol=1e-4)
    assert lm.usage.calls == len(reqs)


def test_multi_token_continuations_are_summed_over_their_tokens(lm):
    req = ScoreRequest(f"{INSTR} Input : fine Output:", (" absolutely wonderful", " no"))
    (res,) = lm.score([req])
    assert math.isclose(
        res.logprobs[0], manual_logprob(lm, req.context, " absolutely wonderful"), abs_tol=1e-4
    )
    assert math.isclose(res.logprobs[1], manual_logprob(lm, req.context, " no"), abs_tol=1e-4)


def test_prefix_reuse_off_gives_the_same_scores():
    a = tiny_random_model(seed=0)
    b = tiny_random_model(seed=0, settings=HFSettings(min_shared_prefix=10_000, batch_size=2))
    reqs = [ScoreRequest(f"{INSTR} {x}", (" yes", " no")) for x in INPUTS]
    for ra, rb in zip(a.score(reqs), b.score(reqs)):
        assert all(math.isclose(x, y, abs_tol=1e-4) for x, y in zip(ra.logprobs, rb.logprobs))


def test_greedy_generation_is_deterministic_and_counts_tokens(lm):
    req = GenRequest("Say something.", SamplingParams(max_new_tokens=8))
    first, second = lm.generate([req, req])
    assert first.texts == second.texts
    assert first.completion_tokens <= 8 and first.prompt_tokens > 0


def test_sampling_is_reproducible_from_the_seed_and_returns_n_texts():
    params = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=12)
    runs = []
    for _ in range(2):
        lm = tiny_random_model(seed=0, settings=HFSettings(seed=7))
        runs.append(lm.generate([GenRequest("Hello", params, n=3)])[0].texts)
    assert runs[0] == runs[1]
    assert len(runs[0]) == 3 and len(set(runs[0])) > 1  # a random model samples different texts


def test_stop_strings_cut_the_text(lm):
    params = SamplingParams(temperature=1.0, max_new_tokens=40, stop=("e",))
    (gen,) = lm.generate([GenRequest("Hello", params, n=4)])
    assert all("e" not in t for t in gen.texts)


def test_chat_template_is_applied_when_asked(lm):
    raw = lm.render("hi", chat=False)
    chat = lm.render("hi", chat=True, system="be brief")
    text = lm.tokenizer.decode(chat)
    assert "<|im_start|>user" in text and "be brief" in text and text.rstrip().endswith("assistant")
    assert len(chat) > len(raw)


def test_history_renders_as_alternating_turns_through_the_chat_template(lm):
    history = (("What is 2+2?", "Let me add: 4."), ("Sure?", "Yes."))
    ids = lm.render("Final answer only.", chat=True, system="be brief", history=history)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Let me add: 4."},
        {"role": "user", "content": "Sure?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "Final answer only."},
    ]
    expected = lm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert lm.tokenizer.decode(ids) == expected
    text = lm.tokenizer.decode(ids)
    assert text.index("Let me add: 4.") < text.index("Final answer only.")
    assert text.count("<|im_start|>assistant") == 3  # two earlier replies + the header of the new one


def test_history_without_a_chat_template_is_a_plain_transcript(lm, monkeypatch):
    monkeypatch.setattr(lm, "has_chat_template", False)
    ids = lm.render("Final?", chat=True, system="sys", history=[("q1", "a1")])
    assert ids == lm.tokenizer.encode("sys\n\nq1\n\na1\n\nFinal?", add_special_tokens=True)


def test_generation_continues_after_the_history(lm):
    params = SamplingParams(max_new_tokens=4)
    alone, continued = lm.generate(
        [GenRequest("Final?", params), GenRequest("Final?", params, history=(("Question", "Reply"),))]
    )
    assert continued.prompt_tokens > alone.prompt_tokens
    assert continued.prompt_tokens == len(lm.render("Final?", True, None, (("Question", "Reply"),)))


def test_prefill_starts_the_reply_and_comes_back_as_part_of_its_text(lm):
    plain = lm.render("Write a prompt.", chat=True)
    filled = lm.render("Write a prompt.", chat=True, prefill="<START>")
    assert filled[: len(plain)] == plain and lm.tokenizer.decode(filled[len(plain) :]) == "<START>"
    params = SamplingParams(max_new_tokens=4)
    alone, prefilled = lm.generate(
        [GenRequest("Write a prompt.", params), GenRequest("Write a prompt.", params, prefill="<START>")]
    )
    assert prefilled.text.startswith("<START>") and not alone.text.startswith("<START>")
    assert prefilled.prompt_tokens == len(filled)
    # The continuation is generated after the pre-filled tokens, exactly as if they were the input.
    [expected] = lm._generate_batch([filled], params, 1)
    assert prefilled.text == "<START>" + expected.text


def test_lora_trains_only_the_adapter_and_can_be_switched_off():
    lm = tiny_random_model(seed=1)
    ctx = [lm.render("Write an instruction:", chat=True)]
    z = [lm.tokenizer.encode(" Classify the review.", add_special_tokens=False)]
    with torch.no_grad():
        base = lm.sequence_log_probs(ctx, z).item()
    fp_base = lm.fingerprint()
    lm.add_lora(LoraSettings(r=4, alpha=8, dropout=0.0))
    params = lm.trainable_parameters()
    assert params and all("lora_" in n for n, p in lm.model.named_parameters() if p.requires_grad)
    frozen = {n: p.detach().clone() for n, p in lm.model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW(params, lr=1e-2)
    for _ in range(3):
        loss = -lm.sequence_log_probs(ctx, z).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        trained = lm.sequence_log_probs(ctx, z).item()
        with lm.adapter_disabled():
            off = lm.sequence_log_probs(ctx, z).item()
            assert lm.fingerprint() == fp_base  # adapter off = the reference model, for caching too
    assert trained > base + 0.1  # the adapter learned to raise the likelihood of z
    assert math.isclose(off, base, abs_tol=1e-4)  # switching it off restores the prior exactly
    assert all(torch.equal(p, frozen[n]) for n, p in lm.model.named_parameters() if n in frozen)
    assert lm.fingerprint() != fp_base


def test_sequence_log_probs_match_scoring_for_mixed_lengths(lm):
    contexts = [lm.render("Write an instruction:", chat=True), lm.render("Hi", chat=False)]
    conts = [
        lm.tokenizer.encode(t, add_special_tokens=False) for t in [" Classify it.", " Say yes or no please"]
    ]
    with torch.no_grad():
        got = lm.sequence_log_probs(contexts, conts)
    for b, (c, z) in enumerate(zip(contexts, conts)):
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(input_ids=torch.tensor([c + z])).logits[0].float(), -1)
        want = sum(logp[len(c) - 1 + j, t].item() for j, t in enumerate(z))
        assert math.isclose(got[b].item(), want, abs_tol=1e-4)


def test_frozen_base_scores_like_the_model_before_its_adapter_trained():
    from promptflux.models.hf import FrozenBase

    lm = tiny_random_model(seed=2)
    req = ScoreRequest(f"{INSTR} Input : fine Output:", (" negative", " positive"))
    before, fp = lm.score([req])[0], lm.fingerprint()
    lm.add_lora(LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for p in lm.trainable_parameters():
            p.add_(0.5)  # a "trained" adapter that changes the outputs
    assert lm.score([req])[0] != before
    frozen = FrozenBase(lm)
    assert frozen.fingerprint() == fp
    assert all(
        math.isclose(a, b, abs_tol=1e-5) for a, b in zip(frozen.score([req])[0].logprobs, before.logprobs)
    )


def test_int8_is_a_distinct_model_that_scores_close_to_fp32_and_refuses_lora():
    from promptflux.errors import ConfigError

    exact = tiny_random_model(seed=0)
    int8 = tiny_random_model(seed=0, settings=HFSettings(dtype="int8"))
    assert int8.fingerprint().endswith("|int8-dynamic") and exact.fingerprint().endswith("|float32")
    assert any("quantized" in type(m).__module__ for m in int8.model.modules())
    requests = [ScoreRequest(f"Input {i}: some words here", (" yes", " no")) for i in range(6)]
    for a, b in zip(exact.score(requests), int8.score(requests)):
        assert a.logprobs != b.logprobs and a.logprobs == pytest.approx(b.logprobs, abs=0.5)
    with pytest.raises(ConfigError, match="int8-quantised") as err:
        int8.add_lora(LoraSettings(r=4, alpha=8, dropout=0.0))
    assert "\n" not in str(err.value)
