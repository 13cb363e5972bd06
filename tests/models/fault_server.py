"""A scripted, fault-injecting OpenAI-compatible server on 127.0.0.1 for the HTTP backend's tests.

Each request takes the next behaviour from `script` (then `default`): a normal answer, an error status
with headers, a malformed body, a hang, or a dropped connection. The server records every hit and the
largest number of requests it was handling at once, so tests can count retries and check concurrency.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """Answer with `status`; `body=None` means a well-formed OpenAI answer built from the request."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, str -> sent as-is (text/plain)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Send nothing for `seconds` (longer than the client's timeout), then close the connection."""

    seconds: float = 2.0


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the socket without answering."""


@dataclass(frozen=True)
class Trickle:
    """Answer 200 with a body that never ends: `chunk` every `every` seconds (a server streaming garbage
    slowly, so that no single read ever times out)."""

    chunk: bytes = b"garbage "
    every: float = 0.2


Behaviour = Reply | Hang | Drop | Trickle


@dataclass(frozen=True)
class Hit:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    time: float


def _tokens(text: str) -> list[tuple[str, int]]:
    """Whitespace-led word tokens with their character offsets (a stand-in for a real tokenizer)."""
    return [(m.group(), m.start()) for m in re.finditer(r"\s*\S+", text)]


def token_logprob(tok: str) -> float:
    """The fake model's log-prob of a token: -0.5 per visible character, so sums are easy to check."""
    return -0.5 * len(tok.strip())


def ok_body(path: str, req: dict[str, Any], honour_n: bool = True) -> dict[str, Any]:
    n = int(req.get("n") or 1) if honour_n else 1
    if path.endswith("/chat/completions"):
        user = req["messages"][-1]["content"]
        choices = [
            {"index": i, "message": {"role": "assistant", "content": f"reply {i}: {user}"}} for i in range(n)
        ]
        prompt_tokens = sum(len(m["content"].split()) for m in req["messages"])
    else:
        prompt = req["prompt"]
        prompt_tokens = len(_tokens(prompt))
        choices = []
        for i in range(n):
            choice: dict[str, Any] = {"index": i, "text": f" completion {i}", "finish_reason": "length"}
            if req.get("echo") and req.get("logprobs") is not None:
                toks = [*_tokens(prompt), ("!", len(prompt))]  # echoed prompt + one generated token
                choice["text"] = prompt + "!"
                choice["logprobs"] = {
                    "tokens": [t for t, _ in toks],
                    "token_logprobs": [None] + [token_logprob(t) for t, _ in toks[1:]],
                    "text_offset": [o for _, o in toks],
                    "top_logprobs": None,
                }
            choices.append(choice)
    return {
        "id": "fake",
        "object": "chat.completion",
        "model": req.get("model"),
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 2 * n},
    }


class FaultServer:
    """Start with `with FaultServer() as srv:`; `srv.url` is the base URL (".../v1")."""

    def __init__(self, default: Behaviour | None = None, honour_n: bool = True) -> None:
        self.script: deque[Behaviour] = deque()
        self.default = default or Reply()
        self.honour_n = honour_n
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def push(self, *behaviours: Behaviour) -> FaultServer:
        self.script.extend(behaviours)
        return self

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self) -> Behaviour:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def _enter(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _make_handler(srv: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            srv._enter(Hit(self.path, body, headers, time.monotonic()))
            try:
                self._respond(srv._next(), body)
            finally:
                srv._leave()

        def _respond(self, b: Behaviour, body: dict[str, Any]) -> None:
            if isinstance(b, Hang):
                srv._stop.wait(b.seconds)
                self._drop()
                return
            if isinstance(b, Drop):
                self._drop()
                return
            if isinstance(b, Trickle):
                self._trickle(b)
                return
            if b.delay:
                srv._stop.wait(b.delay)
            payload = ok_body(self.path, body, srv.honour_n) if b.body is None and b.status == 200 else b.body
            if isinstance(payload, str):
                data, ctype = payload.encode(), "text/plain"
            else:
                data, ctype = json.dumps(payload).encode(), "application/json"
            try:
                self.send_response(b.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in b.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout) before we answered
                self.close_connection = True

        def _trickle(self, b: Trickle) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000000")
                self.end_headers()
                while not srv._stop.wait(b.every):
                    self.wfile.write(b.chunk)
                    self.wfile.flush()
            except OSError:  # the client gave up
                pass
            self._drop()

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler
