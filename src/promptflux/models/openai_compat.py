"""A backend for any server that speaks the OpenAI HTTP API: OpenAI, vLLM, llama.cpp, Ollama, hosted APIs.

Why plain `httpx` and not the `openai` SDK: the SDK retries on its own (with its own backoff and no
retry/failure counters), validates responses into models that reject the loose bodies some compatible
servers send, and is not a core dependency. Here one small request function owns retries (tenacity,
exponential backoff with jitter, honouring `Retry-After`), error messages and accounting.

The public methods are synchronous. All HTTP work runs on one private event loop in a daemon thread, so
calls work from plain scripts, from worker threads and from code that already runs an event loop, and
the concurrency limit (an `asyncio.Semaphore` on that loop) holds across every caller of one instance.

A hung server is never silent: while a batch waits with no answer arriving, a warning says so every
`heartbeat` seconds, and every retry is a warning too (the CLI shows both above its progress bar).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from promptflux.errors import BackendError, ConfigError
from promptflux.models.base import LanguageModel
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult

log = logging.getLogger(__name__)
T = TypeVar("T")
Validator = Callable[[dict[str, Any]], object]

_RETRY_STATUS = frozenset({408, 409, 429})  # plus every 5xx
_NO_SCORING_HINT = (
    "needs /completions with echo=true and logprobs; use a generation-scored task or another backend"
)
_NO_SCORING = "does not return prompt log-probs: scoring " + _NO_SCORING_HINT


class _Retryable(Exception):
    """A failure worth another attempt: 408/409/429, 5xx, timeout, dropped connection, malformed body."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _ClientError(BackendError):
    """A 4xx the server will keep refusing (bad key, unknown model, invalid request): not retried."""


@dataclass
class HttpStats:
    """Counters for the run log: HTTP attempts sent, retries made, and requests that finally failed."""

    attempts: int = 0
    retries: int = 0
    failures: int = 0


class OpenAICompatLM(LanguageModel):
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
        self.stats = HttpStats()
        self.heartbeat = min(10.0, max(1.0, timeout / 2))  # seconds without an answer between warnings
        self._last_answer = 0.0  # time.monotonic() of the last response received
        # Read once so a key rotated mid-run does not mix accounts; kept out of __repr__ and messages.
        self.__api_key = os.environ.get(api_key_env) if api_key_env else None
        self._runner: _LoopThread | None = None
        self._runner_lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None

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

    def close(self) -> None:
        with self._runner_lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close(self._aclose())

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

    async def _post(self, path: str, body: dict[str, Any], validate: Validator) -> dict[str, Any]:
        """POST with retries; `validate(data)` raising TypeError, KeyError or ValueError = malformed body."""
        url = self.base_url + path
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            before_sleep=lambda rs: self._on_retry(url, rs),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(url, body, validate)
        except _Retryable as e:
            self.stats.failures += 1
            raise BackendError(
                f"POST {url} failed after {self.max_retries + 1} attempts; last error: {self._clean(str(e))}"
            ) from None
        except BackendError:
            self.stats.failures += 1
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, url: str, body: dict[str, Any], validate: Validator) -> dict[str, Any]:
        client, sem = self._client_and_semaphore()
        async with sem:
            self.stats.attempts += 1
            try:
                # wait_for bounds the whole call; httpx's own timeout only bounds each connect/read.
                resp = await asyncio.wait_for(client.post(url, json=body), self.timeout)
            except (httpx.TimeoutException, asyncio.TimeoutError) as e:
                raise _Retryable(f"timed out after {self.timeout:g}s ({type(e).__name__})") from None
            except httpx.TransportError as e:
                raise _Retryable(f"connection error: {type(e).__name__}: {e}") from None
        self._last_answer = time.monotonic()
        status = resp.status_code
        if status in _RETRY_STATUS or status >= 500:
            raise _Retryable(f"HTTP {status}: {_server_message(resp)}", _retry_after(resp))
        if status >= 400:
            hint = ""
            if status in (401, 403) and self.api_key_env:
                hint = f" (check that ${self.api_key_env} holds a valid key)"
            elif status == 404:
                hint = f" (check the base URL and that the server serves model {self.model!r})"
            raise _ClientError(self._clean(f"POST {url} -> HTTP {status}: {_server_message(resp)}{hint}"))
        try:
            data = resp.json()
            if not isinstance(data, dict):
                raise TypeError("body is not a JSON object")
            validate(data)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            reason = f"malformed response body ({type(e).__name__}: {_one_line(str(e), 120)})"
            raise _Retryable(reason) from None
        return data

    # ---- retry policy ----

    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.retry_after_max)
        return wait_random_exponential(multiplier=self.backoff_initial, max=self.backoff_max)(rs)

    def _on_retry(self, url: str, rs: RetryCallState) -> None:
        self.stats.retries += 1
        exc = rs.outcome.exception() if rs.outcome else None
        wait = rs.next_action.sleep if rs.next_action else 0.0
        log.warning(
            "retrying POST %s in %.2fs (attempt %d/%d failed: %s)",
            url,
            wait,
            rs.attempt_number,
            self.max_retries + 1,
            self._clean(str(exc)),
        )

    def _clean(self, text: str) -> str:
        """One line, with the API key masked in case a server echoes it back."""
        if self.__api_key:
            text = text.replace(self.__api_key, "***")
        return _one_line(text, 400)

    # ---- event loop plumbing ----

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._runner_lock:
            if self._runner is None:
                self._runner = _LoopThread(f"promptflux-http-{self.name}")
            runner = self._runner
        return runner.run(coro, self.heartbeat, self._still_waiting)

    def _still_waiting(self, started: float) -> None:
        quiet = time.monotonic() - max(started, self._last_answer)
        if quiet >= self.heartbeat:
            log.warning(
                "waiting for %s: no answer for %.0f s (each attempt times out after %g s, %d retries)",
                self.base_url,
                quiet,
                self.timeout,
                self.max_retries,
            )

    def _client_and_semaphore(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        # Created lazily on the private loop: both are bound to the loop that first uses them.
        if self._client is None or self._sem is None:
            headers = {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}
            n = self.concurrency
            limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
            self._client = httpx.AsyncClient(headers=headers, timeout=self.timeout, limits=limits)
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._client, self._sem

    async def _aclose(self) -> None:
        client, self._client, self._sem = self._client, None, None
        if client is not None:
            await client.aclose()


class _LoopThread:
    """An event loop running forever in a daemon thread; `run` submits a coroutine and blocks for it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        heartbeat: float | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> T:
        """The coroutine's result; `on_wait(started)` is called every `heartbeat` s until it is done."""
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("an HTTP backend method was called from its own event loop thread")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        started = time.monotonic()
        try:
            while on_wait is not None and not concurrent.futures.wait([fut], timeout=heartbeat).done:
                on_wait(started)
            return fut.result()
        except BaseException:
            fut.cancel()  # e.g. KeyboardInterrupt: do not leave requests running in the background
            raise

    def close(self, final: Coroutine[Any, Any, None]) -> None:
        try:
            asyncio.run_coroutine_threadsafe(final, self.loop).result(timeout=10)
        except Exception:  # closing must not mask the error that led to close()
            log.debug("closing the HTTP client failed", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


async def _gather_all(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """gather(), but the first failure cancels the rest instead of leaving them running."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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


def _check_logprobs_shape(data: dict[str, Any]) -> None:
    choices = data["choices"]
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("'choices' is not a non-empty list of objects")


def _continuation_logprob(data: dict[str, Any], prompt: str, start: int) -> float | None:
    """Sum the echoed log-probs of the tokens that cover `prompt[start:]` (the continuation).

    None when the server returned no usable prompt log-probs. Raises ValueError when it did but the
    continuation cannot be located among the tokens.
    """
    choice = data["choices"][0]
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    tokens, logprobs, offsets = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
    if not (isinstance(tokens, list) and isinstance(logprobs, list) and tokens):
        return None
    if not all(isinstance(t, str) for t in tokens) or len(tokens) != len(logprobs):
        return None
    text = choice.get("text")
    span = _span_by_offsets(tokens, offsets, text, prompt, start)
    if span is None:
        span = _span_by_lengths(tokens, text, prompt, len(prompt) - start)
    if span is None:
        raise ValueError(f"cannot locate the continuation {prompt[start:]!r} among the echoed tokens")
    values = [logprobs[i] for i in span]
    if not values or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    return float(sum(values))


def _span_by_offsets(tokens: list[str], offsets: Any, text: Any, prompt: str, start: int) -> range | None:
    """Token indices covering [start, len(prompt)) by `text_offset` (character offsets into the prompt).

    Trusted only when the tokens spell out the echoed text exactly: llama.cpp drops special tokens from
    its offsets, and vLLM echoes a "<s>" the prompt does not contain. A token straddling `start` counts,
    so the continuation is always fully covered; the generated token (offset >= len(prompt)) does not.
    """
    if not (isinstance(text, str) and text.startswith(prompt) and "".join(tokens) == text):
        return None
    if not isinstance(offsets, list) or len(offsets) != len(tokens):
        return None
    end = len(prompt)
    idx = [
        i
        for i, (tok, off) in enumerate(zip(tokens, offsets))
        if isinstance(off, int) and off < end and off + max(len(tok), 1) > start
    ]
    return range(idx[0], idx[-1] + 1) if idx else None


def _span_by_lengths(tokens: list[str], text: Any, prompt: str, n_chars: int) -> range | None:
    """Token indices of the last `n_chars` characters of the prompt, counted back from the end.

    Skips the generated tokens first (they spell `text[len(prompt):]`); robust to special or BOS tokens
    in the context because it never looks at the context's tokens.
    """
    if not (isinstance(text, str) and text.startswith(prompt)):
        return None
    generated, i, acc = text[len(prompt) :], len(tokens), ""
    while len(acc) < len(generated) and i > 0:
        i -= 1
        acc = tokens[i] + acc
    if acc != generated:
        return None
    last, acc = i, ""
    while len(acc) < n_chars and i > 0:
        i -= 1
        acc = tokens[i] + acc
    if len(acc) < n_chars or not acc.endswith(prompt[len(prompt) - n_chars :]):
        return None
    return range(i, last)


def _server_message(resp: httpx.Response) -> str:
    """The error text a server sent: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or raw text."""
    try:
        data = resp.json()
    except ValueError:
        return _one_line(resp.text or resp.reason_phrase, 200)
    msg: Any = data
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message", data)))
        msg = err.get("message", err) if isinstance(err, dict) else err
    return _one_line(str(msg), 200)


def _retry_after(resp: httpx.Response) -> float | None:
    return parse_retry_after(resp.headers.get("retry-after-ms"), resp.headers.get("retry-after"))


def parse_retry_after(ms: str | None, value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date)."""
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _normalise_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {url!r} must look like http://host:port/v1")
    if parts.username or parts.password:  # would end up in repr() and error messages
        raise ConfigError("put credentials in the API key environment variable, not in the base URL")
    url = url.strip().rstrip("/")
    return url + "/v1" if parts.path in ("", "/") else url


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
