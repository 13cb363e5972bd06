"""OpenAICompatLM against a real llama-cpp-python server on the SmolLM2-135M GGUF (slow: --runslow)."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptflux.errors import BackendError, ConfigError
from promptflux.models.llamacpp_server import LlamaCppServer, llamacpp_model, require_server_installed
from promptflux.models.openai_compat import OpenAICompatLM
from promptflux.types import GenRequest, SamplingParams, ScoreRequest

pytestmark = pytest.mark.slow


def smollm2_gguf() -> Path:
    try:
        require_server_installed()
        from promptflux.models.embedded import EMBEDDED

        return EMBEDDED["smollm2"].gguf_path()
    except ConfigError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def server() -> Iterator[LlamaCppServer]:
    with LlamaCppServer(smollm2_gguf()) as srv:
        yield srv


@pytest.fixture(scope="session")
def lm(server: LlamaCppServer) -> Iterator[OpenAICompatLM]:
    model = OpenAICompatLM(server.alias, server.base_url, api_key_env=None, timeout=120.0, concurrency=4)
    yield model
    model.close()


def greedy(max_new_tokens: int, stop: tuple[str, ...] = ()) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, stop=stop)


def test_chat_generation_returns_text_and_token_counts(lm):
    [gen] = lm.generate([GenRequest("Name a colour.", greedy(16), chat=True, system="Answer briefly.")])
    assert gen.text.strip()
    assert gen.prompt_tokens > 5 and 0 < gen.completion_tokens <= 16


def test_completion_generation_stops_at_the_stop_string(lm):
    prompt = "Count: 1, 2, 3,"
    [free, stopped] = lm.generate(
        [GenRequest(prompt, greedy(20), chat=False), GenRequest(prompt, greedy(20, (" 6",)), chat=False)]
    )
    assert " 6" in free.text  # greedy decoding does count on...
    assert stopped.text == free.text[: free.text.index(" 6")]  # ...and the stop string cuts it there


def test_two_samples_per_request(lm):
    params = SamplingParams(temperature=0.9, max_new_tokens=8)
    [gen] = lm.generate([GenRequest("Write a random word.", params, n=2)])
    assert len(gen.texts) == 2 and all(isinstance(t, str) for t in gen.texts)
    assert gen.completion_tokens > 0


def test_concurrent_requests_all_succeed(lm):
    gens = lm.generate([GenRequest(f"Repeat the number {i}.", greedy(6)) for i in range(6)])
    assert len(gens) == 6 and all(g.text for g in gens)
    assert lm.stats.failures == 0


def test_scoring_prefers_the_right_fact(lm):
    [res] = lm.score([ScoreRequest("The capital of France is", (" Paris", " banana"))])
    paris, banana = res.logprobs
    assert all(math.isfinite(x) and x < 0 for x in res.logprobs)
    assert paris > banana + 5
    assert res.prompt_tokens > 0


def test_echoed_logprobs_are_aligned_with_their_tokens(lm):
    # " of" after "The capital" is near-certain (transformers: -0.25). Were the server's echoed
    # log-probs shifted by one token (no BOS), this would read p(" of" | "The capital of") ~ -10.
    [res] = lm.score([ScoreRequest("The capital", (" of",))])
    assert res.logprobs[0] > -1.5


def test_scoring_separates_clearly_positive_and_negative_reviews(lm):
    # Checked with this model: margins of 2-4 nats on each sentence with this template.
    reviews = {
        "A brilliant, moving and beautiful film. Highly recommended!": 1,
        "What a fantastic experience, the best film of the year.": 1,
        "This movie was terrible, boring and a complete waste of time.": -1,
        "The worst film I have ever seen; painfully bad.": -1,
    }
    reqs = [ScoreRequest(f"Review: {r}\nSentiment:", (" positive", " negative")) for r in reviews]
    for sign, res in zip(reviews.values(), lm.score(reqs)):
        pos, neg = res.logprobs
        assert pos < 0 and neg < 0
        assert sign * (pos - neg) > 0.5


def test_llamacpp_spec_starts_and_stops_its_server():
    smollm2_gguf()
    model = llamacpp_model("smollm2", timeout=120.0)
    port = model.server.port
    try:
        assert model.fingerprint().startswith("llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf:")
        assert model.generate([GenRequest("Hi!", greedy(4))])[0].completion_tokens > 0
    finally:
        model.close()
    assert not model.server.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_a_server_that_dies_at_startup_reports_its_output(tmp_path):
    smollm2_gguf()
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(BackendError, match=r"exited with code \d+ while starting: .+"):
        LlamaCppServer(bogus, startup_timeout=60).start()
