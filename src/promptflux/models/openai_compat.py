"""A backend for any server that speaks the OpenAI HTTP API: OpenAI, vLLM, llama.cpp, Ollama, hosted APIs.

Split by concern: this module maps requests (GenRequest/ScoreRequest to /chat/completions and
/completions bodies, and answers back); `openai_http.py` is the transport (retries, timeouts, the
private event loop, accounting); `openai_logprobs.py` aligns echoed log-probs with a continuation.
The public methods are synchronous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from promptflux.errors import BackendError, ConfigError
from promptflux.models.base import LanguageModel
from promptflux.models.openai_http import (
    HttpTransport,
    _ClientError,
    _gather_all,
    _host,
    _normalise_base_url,
)
from promptflux.models.openai_logprobs import _check_logprobs_shape, _continuation_logprob
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult

_NO_SCORING_HINT = (
    "needs /completions with echo=true and logprobs; use a generation-scored task or another backend"
)
_NO_SCORING = "does not return prompt log-probs: scoring " + _NO_SCORING_HINT


class OpenAICompatLM(HttpTransport, LanguageModel):
    """An OpenAI-compatible endpoint behind the `LanguageModel` interface.

    `base_url` follows the OpenAI SDK convention and includes the version prefix
    ("http://localhost:8000/v1"); a bare "http://host:port" gets "/v1" appended. The API key is read
    from the environment variable `api_key_env` (None: send no key) and is never stored anywhere that
    is printed. `completion_endpoint="chat"` sends chat=False requests to /chat/completions for servers
    that dropped the legacy /completions endpoint (scoring then is unavailable).
    """

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        completion_endpoint: Literal["completions", "chat"] = "completions",
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
        retry_after_max: float = 120.0,
        supports_scoring: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ConfigError("concurrency must be >= 1, max_retries >= 0 and timeout > 0")
        if completion_endpoint not in ("completions", "chat"):
            raise ConfigError(
                f"completion_endpoint must be 'completions' or 'chat', not {completion_endpoint!r}"
            )
        self.model = model
        self.base_url = _normalise_base_url(base_url)
        self.name = name or model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.completion_endpoint = completion_endpoint
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.supports_scoring = supports_scoring and completion_endpoint == "completions"
        self._init_transport(timeout, api_key_env)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, "
            f"api_key_env={self.api_key_env!r})"
        )

    def fingerprint(self) -> str:
        return f"openai:{_host(self.base_url)}/{self.model}"

    # ---- batch entry points (called by LanguageModel.generate / .score) ----

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        return self._run(_gather_all([self._generate_one(r) for r in requests]))

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        if not self.supports_scoring:
            raise BackendError(f"{self.base_url} {_NO_SCORING}")
        if any(r.chat for r in requests):
            raise BackendError(
                "chat=True scoring is not supported over HTTP (servers do not return log-probs of the "
                "chat prompt); score with chat=False or use the hf/embedded backend"
            )
        for r in requests:
            if not r.context:
                raise BackendError(
                    "cannot score after an empty context over HTTP (the first token has no log-prob)"
                )
            if any(not c for c in r.continuations):
                raise ConfigError(f"empty continuation in score request {r.continuations!r}")
        return self._run(_gather_all([self._score_one(r) for r in requests]))

    # ---- one request ----

    async def _generate_one(self, req: GenRequest) -> Generation:
        chat = req.chat or self.completion_endpoint == "chat"
        p = req.params
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_new_tokens,
        }
        if p.stop:
            body["stop"] = list(p.stop)
        if chat:
            messages = [{"role": "system", "content": req.system}] if req.system else []
            for user, assistant in req.history:  # earlier turns of a continued conversation
                messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            # `req.prefill` is not sent: OpenAI-style chat APIs take no partial assistant turn, and the
            # reply they return is already the whole reply, which is what the prefill contract asks for.
            body["messages"] = [*messages, {"role": "user", "content": req.prompt}]
        else:
            body["prompt"] = req.prompt  # like the hf backend: `system` only applies to chat requests
        path = "/chat/completions" if chat else "/completions"
        texts: list[str] = []
        prompt_tokens = completion_tokens = 0
        # Some servers (llama.cpp's python server among them) ignore `n` and answer with one choice:
        # ask again for the rest, at most n rounds.
        for _ in range(req.n):
            want = req.n - len(texts)
            data = await self._post(path, {**body, "n": want}, lambda d: _choice_texts(d, chat))
            texts.extend(_choice_texts(data, chat)[:want])
            pt, ct = _usage(data)
            prompt_tokens += pt
            completion_tokens += ct
            if len(texts) >= req.n:
                break
        return Generation(tuple(texts), prompt_tokens, completion_tokens)

    async def _score_one(self, req: ScoreRequest) -> ScoreResult:
        results = await _gather_all([self._score_continuation(req.context, c) for c in req.continuations])
        return ScoreResult(tuple(lp for lp, _ in results), sum(pt for _, pt in results))

    async def _score_continuation(self, context: str, continuation: str) -> tuple[float, int]:
        # max_tokens=1, not 0: llama-cpp-python reads max_tokens <= 0 as "until the context is full".
        body = {
            "model": self.model,
            "prompt": context + continuation,
            "echo": True,
            "logprobs": 1,
            "max_tokens": 1,
            "temperature": 0.0,
        }
        try:
            data = await self._post("/completions", body, _check_logprobs_shape)
        except _ClientError as e:  # e.g. a chat-only model, or echo/logprobs refused
            raise BackendError(f"{e}; scoring {_NO_SCORING_HINT}") from None
        try:
            lp = _continuation_logprob(data, context + continuation, len(context))
        except ValueError as e:
            raise BackendError(f"{self.base_url}: {e}; its echo/logprobs output is not usable") from None
        if lp is None:
            self.supports_scoring = False
            raise BackendError(f"{self.base_url} {_NO_SCORING}")
        return lp, _usage(data)[0]


# ---- response parsing (pure functions, raise TypeError/KeyError/ValueError on malformed bodies) ----


def _choice_texts(data: dict[str, Any], chat: bool) -> list[str]:
    choices = data["choices"]
    if not isinstance(choices, list) or not choices:
        raise ValueError("'choices' is not a non-empty list")
    out: list[tuple[int, str]] = []
    for i, c in enumerate(choices):
        text = (c["message"].get("content") or "") if chat else c["text"]
        if not isinstance(text, str):
            raise TypeError(f"choice {i} text is {type(text).__name__}, not str")
        index = c.get("index", i)
        out.append((index if isinstance(index, int) else i, text))
    return [t for _, t in sorted(out, key=lambda it: it[0])]


def _usage(data: dict[str, Any]) -> tuple[int, int]:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (pt if isinstance(pt, int) else 0), (ct if isinstance(ct, int) else 0)
