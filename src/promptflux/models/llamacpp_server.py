"""Run llama-cpp-python's OpenAI-compatible server on a local GGUF and talk to it over HTTP.

Why a subprocess and not the in-process `llama_cpp.Llama`: the HTTP path is what users hit with vLLM,
Ollama or hosted APIs, so the same `OpenAICompatLM` code is exercised end to end; the server also keeps
llama.cpp's threads and memory out of the optimiser's process. The server listens on 127.0.0.1 only,
on a free port, and is terminated (then killed) when the context manager exits, on `close()` and at
interpreter exit.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, BinaryIO

import httpx

from promptflux.errors import BackendError, ConfigError
from promptflux.models.openai_compat import OpenAICompatLM

_INSTALL_HINT = 'llama-cpp-python\'s server is not installed; run `pip install "promptflux[server]"`'
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")


def require_server_installed() -> None:
    """ConfigError unless `python -m llama_cpp.server` can run (package plus its [server] extras)."""
    for module in _SERVER_MODULES:
        if importlib.util.find_spec(module) is None:
            raise ConfigError(_INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaCppServer:
    """A managed `python -m llama_cpp.server` process; use as a context manager or call start()/stop().

    `alias` is the model name clients send; `extra_args` are passed through (e.g. ["--n_threads", "2"]).
    The server's output goes to a temporary log file (a pipe could fill up and stall the server); its
    tail is quoted when the server dies or does not answer within `startup_timeout` seconds.
    """

    def __init__(
        self,
        gguf: str | os.PathLike[str],
        *,
        n_ctx: int = 2048,
        alias: str | None = None,
        startup_timeout: float = 120.0,
        extra_args: tuple[str, ...] | list[str] = (),
        align_logprobs: bool = True,
    ) -> None:
        require_server_installed()
        self.gguf = Path(gguf).expanduser()
        if not self.gguf.is_file():
            raise ConfigError(f"GGUF file not found: {self.gguf}")
        self.n_ctx = n_ctx
        self.alias = alias or self.gguf.stem
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        # See _bos_overrides: without a BOS token the server's echoed log-probs are off by one token.
        self.bos_overrides: list[str] = []
        self.logprobs_aligned = True
        if align_logprobs:
            self.bos_overrides, self.logprobs_aligned = _bos_overrides(self.gguf)
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise BackendError("the llama.cpp server is not running; call start() first")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LlamaCppServer:
        if self.running:
            return self
        # Another process can grab the free port between our probe and the server's bind: try again.
        for attempt in range(3):
            self._spawn(free_port())
            try:
                self._wait_ready()
                break
            except BaseException as e:  # also Ctrl-C while waiting: never leave the process behind
                tail = self.log_tail()
                self.stop()
                port_taken = isinstance(e, BackendError) and "address already in use" in tail.lower()
                if not port_taken or attempt == 2:
                    raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Terminate, wait up to 10 s, then kill. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None
        atexit.unregister(self.stop)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the server printed, joined into one line for error messages."""
        if self._log is None:
            return ""
        text = Path(self._log.name).read_text(errors="replace")
        tail = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
        return " | ".join(tail)[-600:]

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, port: int) -> None:
        self.port = port
        # Kept open for the server's lifetime and closed in stop(), so no `with` block.
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="promptflux-llamacpp-", suffix=".log", delete=False
        )
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.gguf),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", str(self.n_ctx),
            # Requests queue instead of aborting each other when several arrive at once.
            "--interrupt_requests", "false",
            *(["--kv_overrides", *self.bos_overrides] if self.bos_overrides else []),
            *self.extra_args,
        ]  # fmt: skip
        # The server reads its settings from the environment too: a stray API_KEY would lock us out.
        env = {k: v for k, v in os.environ.items() if k.upper() not in ("API_KEY", "HOST", "PORT")}
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self._proc.poll()
                if code is not None:
                    raise BackendError(
                        f"llama.cpp server for {self.gguf.name} exited with code {code} while starting: "
                        f"{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise BackendError(
            f"llama.cpp server for {self.gguf.name} did not answer within {self.startup_timeout:g}s "
            f"(raise startup_timeout?); last output: {self.log_tail()}"
        )


def _bos_overrides(gguf: Path) -> tuple[list[str], bool]:
    """Server `--kv_overrides` that make echoed prompt log-probs line up with their tokens.

    llama-cpp-python 0.3.x pairs the logits row *i* with prompt token *i* after dropping a leading BOS,
    which is right only when the prompt starts with BOS; for models that add none (SmolLM2, Qwen) every
    echoed log-prob belongs to the next token. Making the tokenizer add a BOS fixes the pairing; we pick
    `<|endoftext|>` (a document boundary, the most neutral prefix) when the vocabulary has it. Returns
    (overrides, aligned); aligned is False when no BOS token can be chosen.
    """
    try:
        add_bos, bos_id, eot_id = _gguf_tokenizer_info(gguf)
    except (OSError, ValueError, struct.error):
        return [], True  # unreadable header: leave the server as it is, it will report its own error
    if add_bos is not False:
        return [], True
    token = eot_id if eot_id is not None else bos_id
    if token is None:
        return [], False
    return ["tokenizer.ggml.add_bos_token=bool:true", f"tokenizer.ggml.bos_token_id=int:{token}"], True


# GGUF value type -> struct format (8 = string and 9 = array are handled separately).
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q"}
_SCALAR[12] = "<d"


def _gguf_tokenizer_info(path: Path) -> tuple[bool | None, int | None, int | None]:
    """(add_bos_token, bos_token_id, id of "<|endoftext|>") from a GGUF v2/v3 header.

    A 60-line reader instead of `gguf.GGUFReader`, which parses every tensor and token into numpy
    objects (3+ s for SmolLM2); this streams the metadata once in ~0.1 s.
    """

    def read(f: BinaryIO, fmt: str) -> Any:
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

    def string(f: BinaryIO) -> bytes:
        return f.read(read(f, "<Q"))

    meta: dict[str, Any] = {}
    eot_id = None
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF" or read(f, "<I") < 2:
            raise ValueError(f"{path} is not a GGUF v2+ file")
        read(f, "<Q")  # tensor count
        for _ in range(read(f, "<Q")):
            key, vtype = string(f).decode(errors="replace"), read(f, "<I")
            if vtype == 8:
                meta[key] = string(f)
            elif vtype in _SCALAR:
                meta[key] = read(f, _SCALAR[vtype])
            elif vtype == 9:
                itype, n = read(f, "<I"), read(f, "<Q")
                if itype in _SCALAR:
                    f.seek(n * struct.calcsize(_SCALAR[itype]), os.SEEK_CUR)
                elif itype == 8:
                    for i in range(n):
                        if string(f) == b"<|endoftext|>" and key == "tokenizer.ggml.tokens":
                            eot_id = i
                else:
                    raise ValueError(f"unsupported nested array in {path}")
            else:
                raise ValueError(f"unknown GGUF value type {vtype} in {path}")
    return meta.get("tokenizer.ggml.add_bos_token"), meta.get("tokenizer.ggml.bos_token_id"), eot_id


class LlamaCppLM(OpenAICompatLM):
    """`OpenAICompatLM` bound to a llama.cpp server it starts itself and stops on `close()`.

    The fingerprint names the GGUF file (name and size) rather than the random port, so cached
    answers stay valid across runs.
    """

    def __init__(
        self,
        gguf: str | os.PathLike[str],
        *,
        n_ctx: int = 2048,
        startup_timeout: float = 120.0,
        server_args: tuple[str, ...] | list[str] = (),
        **kwargs: Any,
    ) -> None:
        self.server = LlamaCppServer(
            gguf, n_ctx=n_ctx, startup_timeout=startup_timeout, extra_args=server_args
        ).start()
        kwargs.setdefault("name", f"llamacpp:{self.server.gguf.name}")
        kwargs.setdefault("timeout", 300.0)  # CPU inference of a long prompt can take a while
        kwargs.setdefault("concurrency", 4)  # the server runs one request at a time; the rest queue
        kwargs.setdefault("supports_scoring", self.server.logprobs_aligned)
        try:
            super().__init__(self.server.alias, self.server.base_url, api_key_env=None, **kwargs)
        except BaseException:
            self.server.stop()
            raise

    def fingerprint(self) -> str:
        gguf = self.server.gguf
        return f"llamacpp:{gguf.name}:{gguf.stat().st_size}:ctx{self.server.n_ctx}"

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.server.stop()


def llamacpp_model(target: str | os.PathLike[str], **kwargs: Any) -> LlamaCppLM:
    """The LM for a user spec `llamacpp:<target>`: a GGUF path, or an embedded model name such as smollm2.

    Keyword arguments go to `LlamaCppLM` (n_ctx, startup_timeout, concurrency, timeout, ...).
    """
    require_server_installed()
    path = Path(target).expanduser()
    if not path.exists():
        from promptflux.models.embedded import EMBEDDED

        if str(target) in EMBEDDED:
            path = EMBEDDED[str(target)].gguf_path()
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    return LlamaCppLM(path, **kwargs)
