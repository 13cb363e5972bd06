"""OpenAICompatLM against a scripted fault-injecting server on 127.0.0.1 (fast, no model)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptflux.errors import BackendError, ConfigError
from promptflux.models import llamacpp_server
from promptflux.models.openai_compat import OpenAICompatLM
from promptflux.models.openai_http import parse_retry_after
from promptflux.models.openai_logprobs import _continuation_logprob
from promptflux.types import GenRequest, SamplingParams, ScoreRequest, Usage
from tests.models.fault_server import Drop, FaultServer, Hang, Reply

FAST = {"timeout": 0.5, "max_retries": 3, "backoff_initial": 0.01, "backoff_max": 0.05, "api_key_env": None}


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def make_lm() -> Iterator[Callable[..., OpenAICompatLM]]:
    made: list[OpenAICompatLM] = []

    def make(srv: FaultServer, **kwargs: object) -> OpenAICompatLM:
        lm = OpenAICompatLM("test-model", srv.url, **{**FAST, **kwargs})  # type: ignore[arg-type]
        made.append(lm)
        return lm

    yield make
    for lm in made:
        lm.close()


def chat(prompt: str = "hello", **kwargs: object) -> GenRequest:
    return GenRequest(prompt, SamplingParams(max_new_tokens=8), **kwargs)  # type: ignore[arg-type]


# ---- request mapping and accounting ----


def test_chat_request_maps_every_field(server, make_lm):
    lm = make_lm(server)
    params = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=12, stop=("\n", "END"))
    [gen] = lm.generate([GenRequest("hello there", params, chat=True, system="be brief", n=2)])
    [hit] = server.hits
    assert hit.path == "/v1/chat/completions"
    assert hit.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert (hit.body["model"], hit.body["temperature"], hit.body["top_p"]) == ("test-model", 0.7, 0.9)
    assert (hit.body["max_tokens"], hit.body["stop"], hit.body["n"]) == (12, ["\n", "END"], 2)
    assert gen.texts == ("reply 0: hello there", "reply 1: hello there")
    assert (gen.prompt_tokens, gen.completion_tokens) == (4, 4)


def test_a_prefill_is_not_sent_the_reply_comes_back_whole(server, make_lm):
    lm = make_lm(server)
    [gen] = lm.generate([chat("Write a prompt.", prefill="<START>")])
    [hit] = server.hits
    assert hit.body["messages"] == [{"role": "user", "content": "Write a prompt."}]
    assert gen.text == "reply 0: Write a prompt."


def test_history_is_sent_as_earlier_chat_messages(server, make_lm):
    lm = make_lm(server)
    history = (("What is 2+2?", "Adding: 4."), ("Sure?", "Yes."))
    [gen] = lm.generate([chat("Final answer only.", system="be brief", history=history)])
    [hit] = server.hits
    assert hit.path == "/v1/chat/completions"
    assert hit.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Adding: 4."},
        {"role": "user", "content": "Sure?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "Final answer only."},
    ]
    assert gen.text == "reply 0: Final answer only."


def test_completion_request_uses_legacy_endpoint(server, make_lm):
    lm = make_lm(server)
    [gen] = lm.generate([chat("Once upon a time", chat=False, system="ignored without chat")])
    [hit] = server.hits
    assert hit.path == "/v1/completions"
    assert hit.body["prompt"] == "Once upon a time" and "stop" not in hit.body
    assert gen.texts == (" completion 0",)


def test_completion_endpoint_chat_routes_plain_prompts_to_chat(server, make_lm):
    lm = make_lm(server, completion_endpoint="chat")
    lm.generate([chat("plain", chat=False)])
    assert server.hits[0].path == "/v1/chat/completions"
    assert lm.supports_scoring is False


def test_missing_samples_are_requested_again_when_server_ignores_n(make_lm):
    with FaultServer(honour_n=False) as srv:
        lm = make_lm(srv)
        [gen] = lm.generate([chat(n=3)])
        assert len(gen.texts) == 3
        assert [h.body["n"] for h in srv.hits] == [3, 2, 1]
        assert gen.completion_tokens == 6  # usage summed over the three answers


def test_usage_is_summed_from_response_usage(server, make_lm):
    lm = make_lm(server)
    lm.generate([chat("one two"), chat("three", n=2), chat("a b c d", chat=False)])
    # chat: words of the messages; completions: whitespace tokens; completion = 2 per sample
    assert lm.usage == Usage(calls=3, prompt_tokens=2 + 1 + 4, completion_tokens=2 + 4 + 2)
    lm.generate([chat("x")])
    assert lm.usage == Usage(calls=4, prompt_tokens=8, completion_tokens=10)


def test_usage_falls_back_to_zero_when_absent(make_lm):
    with FaultServer(default=Reply(body={"choices": [{"message": {"content": "hi"}}]})) as srv:
        [gen] = make_lm(srv).generate([chat()])
        assert (gen.text, gen.prompt_tokens, gen.completion_tokens) == ("hi", 0, 0)


# ---- retries ----

TRANSIENT = {
    "500": Reply(500, {"error": {"message": "boom"}}),
    "503-text": Reply(503, "Service Unavailable"),
    "429": Reply(429, {"error": {"message": "slow down"}}),
    "408": Reply(408, "timeout"),
    "dropped-connection": Drop(),
    "not-json": Reply(200, "<html>gateway says hi</html>"),
    "json-array": Reply(200, [1, 2]),
    "missing-choices": Reply(200, {"object": "chat.completion"}),
    "choices-not-list": Reply(200, {"choices": "nope"}),
    "empty-choices": Reply(200, {"choices": []}),
    "text-wrong-type": Reply(200, {"choices": [{"message": {"content": 5}}]}),
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_fault_is_retried_then_succeeds(server, make_lm, fault):
    lm = make_lm(server)
    server.push(fault)
    [gen] = lm.generate([chat("hi")])
    assert gen.text == "reply 0: hi"
    assert len(server.hits) == 2
    assert (lm.stats.retries, lm.stats.failures, lm.stats.attempts) == (1, 0, 2)


@pytest.mark.parametrize("headers", [{"Retry-After": "0.4"}, {"retry-after-ms": "400"}])
def test_backoff_honours_retry_after(server, make_lm, headers):
    lm = make_lm(server)  # exponential backoff alone would wait at most 0.05 s
    server.push(Reply(429, {"error": "rate limited"}, headers=headers))
    lm.generate([chat()])
    first, second = server.hits
    assert second.time - first.time >= 0.38


def test_timeout_is_retried(server, make_lm):
    lm = make_lm(server, timeout=0.3)
    server.push(Hang(3.0))
    t0 = time.monotonic()
    [gen] = lm.generate([chat("late")])
    assert gen.text == "reply 0: late"
    assert len(server.hits) == 2 and lm.stats.retries == 1
    assert time.monotonic() - t0 < 2.0


def test_exhausted_retries_raise_one_line_backend_error(make_lm):
    with FaultServer(default=Reply(503, {"error": {"message": "overloaded,\nplease wait"}})) as srv:
        lm = make_lm(srv, max_retries=2)
        with pytest.raises(BackendError) as info:
            lm.generate([chat()])
        msg = str(info.value)
        assert "\n" not in msg
        assert f"{srv.url}/chat/completions" in msg and "3 attempts" in msg
        assert "HTTP 503" in msg and "overloaded, please wait" in msg
        assert len(srv.hits) == 3
        assert (lm.stats.retries, lm.stats.failures) == (2, 1)


def test_exhausted_retries_on_timeouts_name_the_timeout(make_lm):
    with FaultServer(default=Hang(3.0)) as srv:
        lm = make_lm(srv, timeout=0.2, max_retries=1)
        with pytest.raises(BackendError, match=r"2 attempts; last error: timed out after 0\.2s"):
            lm.generate([chat()])
        assert len(srv.hits) == 2


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"message": "Incorrect API key provided"}}, "Incorrect API key provided"),
        (404, {"error": {"message": "The model `x` does not exist"}}, "The model `x` does not exist"),
        (400, {"detail": "max_tokens is too large"}, "max_tokens is too large"),
        (422, "unprocessable\nentity", "unprocessable entity"),
    ],
)
def test_client_errors_are_not_retried(make_lm, status, body, expected):
    with FaultServer(default=Reply(status, body)) as srv:
        lm = make_lm(srv)
        with pytest.raises(BackendError) as info:
            lm.generate([chat()])
        msg = str(info.value)
        assert f"HTTP {status}" in msg and expected in msg and "\n" not in msg
        assert len(srv.hits) == 1
        assert (lm.stats.retries, lm.stats.failures) == (0, 1)


def test_one_failing_request_fails_the_batch(make_lm):
    with FaultServer(default=Reply(404, {"error": "no such model"})) as srv:
        with pytest.raises(BackendError, match="no such model"):
            make_lm(srv).generate([chat(str(i)) for i in range(5)])
        assert len(srv.hits) <= 5


# ---- concurrency and event loops ----


def test_concurrency_limit_is_respected(make_lm):
    with FaultServer(default=Reply(delay=0.1)) as srv:
        lm = make_lm(srv, concurrency=3, timeout=2.0)
        gens = lm.generate([chat(f"q{i}") for i in range(12)])
        assert [g.text for g in gens] == [f"reply 0: q{i}" for i in range(12)]  # order kept
        assert len(srv.hits) == 12
        assert srv.max_in_flight == 3


def test_limit_holds_across_caller_threads(make_lm):
    with FaultServer(default=Reply(delay=0.05)) as srv:
        lm = make_lm(srv, concurrency=2, timeout=2.0)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: lm.generate([chat(f"t{i}"), chat(f"u{i}")]), range(4)))
        assert all(len(r) == 2 for r in results)
        assert len(srv.hits) == 8 and srv.max_in_flight <= 2


def test_works_inside_a_running_event_loop(server, make_lm):
    lm = make_lm(server)

    async def caller() -> str:
        return lm.generate([chat("from async")])[0].text

    assert asyncio.run(caller()) == "reply 0: from async"


def test_close_stops_the_loop_thread_and_the_model_can_be_reused(server, make_lm):
    lm = make_lm(server)
    lm.generate([chat()])
    lm.close()
    lm.close()
    assert not [t for t in threading.enumerate() if t.name == "promptflux-http-test-model"]
    assert lm.generate([chat("again")])[0].text == "reply 0: again"


# ---- API key hygiene ----

SECRET = "sk-test-SECRET-1234567890"


def test_api_key_is_sent_but_never_shown(make_lm, monkeypatch, caplog):
    monkeypatch.setenv("PFX_TEST_KEY", SECRET)
    reply = Reply(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    with FaultServer(default=reply) as srv:
        lm = make_lm(srv, api_key_env="PFX_TEST_KEY")
        srv.push(Reply(500, {"error": {"message": f"upstream rejected {SECRET}"}}))
        with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
            lm.generate([chat()])
        assert [h.headers["authorization"] for h in srv.hits] == [f"Bearer {SECRET}"] * 2
        msg = str(info.value)
        assert "***" in msg and "$PFX_TEST_KEY" in msg
        assert "retrying" in caplog.text
        for text in (msg, repr(lm), lm.fingerprint(), caplog.text, str(vars(lm.stats))):
            assert SECRET not in text


def test_no_authorization_header_without_a_key(server, make_lm, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    make_lm(server, api_key_env="OPENAI_API_KEY").generate([chat()])
    assert "authorization" not in server.hits[0].headers


# ---- identity and configuration ----


def test_fingerprint_names_host_and_model(server, make_lm):
    lm = make_lm(server)
    port = server.url.split(":")[2].split("/")[0]
    assert lm.fingerprint() == f"openai:127.0.0.1:{port}/test-model"
    other = OpenAICompatLM("gpt-4o-mini", "https://api.openai.com/v1/")
    assert other.fingerprint() == "openai:api.openai.com/gpt-4o-mini"
    assert other.base_url == "https://api.openai.com/v1"


def test_base_url_without_path_gets_v1_and_bad_urls_are_config_errors():
    assert OpenAICompatLM("m", "http://localhost:8000").base_url == "http://localhost:8000/v1"
    assert OpenAICompatLM("m", "http://h/api/openai/v1/").base_url == "http://h/api/openai/v1"
    with pytest.raises(ConfigError, match="must look like"):
        OpenAICompatLM("m", "localhost:8000")
    with pytest.raises(ConfigError):
        OpenAICompatLM("m", concurrency=0)
    with pytest.raises(ConfigError, match="not in the base URL"):
        OpenAICompatLM("m", "https://user:sk-abc@example.com/v1")


def test_parse_retry_after():
    assert parse_retry_after("250", None) == 0.25
    assert parse_retry_after(None, "3") == 3.0
    assert parse_retry_after(None, "Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after(None, "soon") is None
    assert parse_retry_after(None, None) is None


# ---- scoring ----


def test_scoring_sums_the_continuation_tokens(server, make_lm):
    lm = make_lm(server)
    [res] = lm.score([ScoreRequest("The capital of France is", (" Paris", " a big city"))])
    # the fake model gives each word token -0.5 per visible character
    assert res.logprobs == (-2.5, -0.5 * (1 + 3 + 4))
    assert res.prompt_tokens == 6 + 8
    bodies = sorted((h.body for h in server.hits), key=lambda b: b["prompt"])
    assert [b["prompt"] for b in bodies] == [
        "The capital of France is Paris",
        "The capital of France is a big city",
    ]
    assert all(b["echo"] is True and b["logprobs"] == 1 and b["max_tokens"] == 1 for b in bodies)
    assert lm.usage.calls == 1 and lm.usage.prompt_tokens == 14


def test_scoring_without_prompt_logprobs_is_a_clear_error(make_lm):
    with FaultServer(default=Reply(body={"choices": [{"text": " x", "logprobs": None}]})) as srv:
        lm = make_lm(srv)
        with pytest.raises(BackendError, match=r"does not return prompt log-probs.*generation-scored task"):
            lm.score([ScoreRequest("ctx", (" a",))])
        assert lm.supports_scoring is False
        hits = len(srv.hits)
        with pytest.raises(BackendError, match="does not return prompt log-probs"):
            lm.score([ScoreRequest("ctx", (" a",))])
        assert len(srv.hits) == hits  # known now: no further requests


def test_chat_scoring_and_empty_context_are_rejected_without_requests(server, make_lm):
    lm = make_lm(server)
    with pytest.raises(BackendError, match="chat=True scoring is not supported over HTTP"):
        lm.score([ScoreRequest("ctx", (" a",), chat=True)])
    with pytest.raises(BackendError, match="empty context"):
        lm.score([ScoreRequest("", (" a",))])
    with pytest.raises(ConfigError, match="empty continuation"):
        lm.score([ScoreRequest("ctx", (" a", ""))])
    assert server.hits == []
    assert lm.supports_scoring


def test_scoring_refused_by_the_server_says_what_to_do(make_lm):
    body = {"error": {"message": "This is a chat model and not supported in the v1/completions endpoint"}}
    with FaultServer(default=Reply(404, body)) as srv:
        with pytest.raises(BackendError, match=r"not supported in the v1/completions.*generation-scored"):
            make_lm(srv).score([ScoreRequest("ctx", (" a",))])
        assert len(srv.hits) == 1


def echoed(tokens: list[str], logprobs: list[float | None], offsets: list[int], text: str) -> dict:
    lp = {"tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets}
    return {"choices": [{"text": text, "logprobs": lp}]}


def test_continuation_found_by_text_offset():
    data = echoed(["A", " b", " c", "!"], [None, -1.0, -2.0, -9.0], [0, 1, 3, 5], "A b c!")
    assert _continuation_logprob(data, "A b c", 3) == -2.0
    assert _continuation_logprob(data, "A b c", 1) == -3.0
    # a token straddling the boundary counts, so the continuation is always fully covered
    assert _continuation_logprob(data, "A b c", 2) == -3.0


def test_continuation_found_by_token_lengths_when_offsets_do_not_match_the_prompt():
    # llama.cpp: a special token in the context detokenizes to "" and its offsets skip its text
    prompt = "<|im_start|>user\nhi<|im_end|> yes"
    data = echoed(
        ["", "user", "\n", "hi", "", " yes", "."], [None, -1, -1, -1, -1, -0.5, -3], [0] * 7, prompt + "."
    )
    assert _continuation_logprob(data, prompt, len(prompt) - 4) == -0.5
    # vLLM-style: a BOS string the prompt does not contain, and no generated token (EOS came first)
    data = echoed(["<s>", "Hi", " there"], [None, -1.0, -0.25], [0, 0, 2], "Hi there")
    assert _continuation_logprob(data, "Hi there", 2) == -0.25


def test_continuation_missing_or_unlocatable():
    assert _continuation_logprob({"choices": [{"text": "x", "logprobs": None}]}, "x", 0) is None
    data = echoed(["zz", "yy"], [None, -1.0], [0, 2], "completely different")
    with pytest.raises(ValueError, match="cannot locate"):
        _continuation_logprob(data, "completely", 5)


# ---- llama.cpp server plumbing that needs no server ----


def test_llamacpp_not_installed_is_a_config_error(monkeypatch):
    monkeypatch.setattr(llamacpp_server.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r'pip install "promptflux\[server\]"'):
        llamacpp_server.llamacpp_model("whatever.gguf")


def test_missing_gguf_is_a_config_error_naming_the_path(monkeypatch, tmp_path):
    monkeypatch.setattr(llamacpp_server, "require_server_installed", lambda: None)
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match=f"GGUF file not found: {missing}"):
        llamacpp_server.llamacpp_model(missing)
    with pytest.raises(ConfigError, match="GGUF file not found"):
        llamacpp_server.LlamaCppServer(missing)


@pytest.mark.parametrize(
    ("add_bos", "tokens", "expected"),
    [
        (False, ["<unk>", "<s>", "<|endoftext|>"], ["bool:true", "int:2"]),
        (False, ["<unk>", "<s>"], ["bool:true", "int:1"]),  # no <|endoftext|>: the model's own BOS
        (True, ["<unk>", "<s>", "<|endoftext|>"], []),
    ],
)
def test_bos_overrides_fix_models_without_bos(tmp_path, add_bos, tokens, expected):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "vocab.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_bool("tokenizer.ggml.add_bos_token", add_bos)
    writer.add_uint32("tokenizer.ggml.bos_token_id", 1)
    writer.add_token_list(tokens)
    writer.add_array("tokenizer.ggml.scores", [0.0] * len(tokens))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    overrides, aligned = llamacpp_server._bos_overrides(path)
    assert aligned
    assert [o.split("=")[1] for o in overrides] == expected
