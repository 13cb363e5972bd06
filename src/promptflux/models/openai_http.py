"""The HTTP transport of the OpenAI-compatible backend: one POST function with retries, on a private loop.

Why plain `httpx` and not the `openai` SDK: the SDK retries on its own (with its own backoff and no
retry/failure counters), validates responses into models that reject the loose bodies some compatible
servers send, and is not a core dependency. Here one small request function owns retries (tenacity,
exponential backoff with jitter, honouring `Retry-After`), error messages and accounting.

All HTTP work runs on one private event loop in a daemon thread, so the synchronous backend methods
work from plain scripts, from worker threads and from code that already runs an event loop, and the
concurrency limit (an `asyncio.Semaphore` on that loop) holds across every caller of one instance.

A hung server is never silent: while a batch waits with no answer arriving, a warning says so every
`heartbeat` seconds, and every retry is a warning too (the CLI shows both above its progress bar).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from promptflux.errors import BackendError, ConfigError

log = logging.getLogger("promptflux.models.openai_compat")  # the logger name users filter on
T = TypeVar("T")
Validator = Callable[[dict[str, Any]], object]

_RETRY_STATUS = frozenset({408, 409, 429})  # plus every 5xx


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


class HttpTransport:
    """Retried POSTs to `self.base_url` on a private event loop, for a backend class to inherit.

    The backend sets `base_url`, `name`, `model`, `api_key_env`, `concurrency`, `timeout`,
    `max_retries`, `backoff_initial`, `backoff_max` and `retry_after_max`, then calls
    `_init_transport`; it sends with `await self._post(path, body, validate)` inside `self._run(...)`.
    """

    def _init_transport(self, timeout: float, api_key_env: str | None) -> None:
        self.stats = HttpStats()
        self.heartbeat = min(10.0, max(1.0, timeout / 2))  # seconds without an answer between warnings
        self._last_answer = 0.0  # time.monotonic() of the last response received
        # Read once so a key rotated mid-run does not mix accounts; kept out of __repr__ and messages.
        self.__api_key = os.environ.get(api_key_env) if api_key_env else None
        self._runner: _LoopThread | None = None
        self._runner_lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None

    def close(self) -> None:
        with self._runner_lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close(self._aclose())

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
