"""Model specs a user can type, resolved to a backend.

    smollm2 | gemma3-270m        embedded offline models (converted once, cached as safetensors)
    tiny-random                  a tiny random Llama for smoke tests
    hf:<folder>                  any local transformers causal-LM folder
    openai:<model>               an OpenAI-compatible server (--base-url / OPENAI_BASE_URL; key from env)
    llamacpp:<file.gguf>         a llama.cpp server started and stopped by promptflux

A new backend = one module + one entry in SCHEMES.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from promptflux.errors import ConfigError
from promptflux.models.base import LanguageModel
from promptflux.models.embedded import EMBEDDED, materialize
from promptflux.models.hf import HFLanguageModel, HFSettings

DEFAULT_KEY_ENV = "OPENAI_API_KEY"  # may be unset (local servers need no key); any other name must be set


@dataclass(frozen=True)
class ModelOptions:
    """Backend options a CLI or config can set; each backend reads the ones that concern it."""

    hf: HFSettings = HFSettings()
    base_url: str | None = None  # openai: server URL (else $OPENAI_BASE_URL)
    api_key_env: str = "OPENAI_API_KEY"  # name of the env var holding the key; the key is never stored
    concurrency: int = 8
    timeout: float = 60.0  # seconds per HTTP request attempt (--timeout)
    max_retries: int = 4  # extra attempts after a timeout, 5xx, 429 or dropped connection (--retries)


def _embedded(name: str, options: ModelOptions) -> LanguageModel:
    return HFLanguageModel.from_pretrained(materialize(name), name=name, settings=options.hf)


def _hf(arg: str, options: ModelOptions) -> LanguageModel:
    return HFLanguageModel.from_pretrained(Path(arg).expanduser(), name=f"hf:{arg}", settings=options.hf)


def _tiny(arg: str, options: ModelOptions) -> LanguageModel:
    from promptflux.models.tiny import tiny_random_model

    return tiny_random_model(seed=int(arg or 0), settings=options.hf)


def _openai(arg: str, options: ModelOptions) -> LanguageModel:
    from promptflux.models.openai_compat import OpenAICompatLM

    # No silent default: a typo'd local setup must not send prompts (and a key) to a public API.
    base_url = options.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise ConfigError(
            f"openai:{arg} needs a server: pass --base-url (e.g. http://localhost:8000/v1, or "
            f"https://api.openai.com/v1 for OpenAI itself) or set $OPENAI_BASE_URL"
        )
    key_env = options.api_key_env
    if key_env != DEFAULT_KEY_ENV and not os.environ.get(key_env):
        raise ConfigError(f"--api-key-env names ${key_env}, which is not set (or empty) in this environment")
    return OpenAICompatLM(
        model=arg,
        base_url=base_url,
        api_key_env=key_env,
        concurrency=options.concurrency,
        timeout=options.timeout,
        max_retries=options.max_retries,
    )


def _llamacpp(arg: str, options: ModelOptions) -> LanguageModel:
    from promptflux.models.llamacpp_server import llamacpp_model

    return llamacpp_model(Path(arg).expanduser(), concurrency=options.concurrency, timeout=options.timeout)


SCHEMES: dict[str, tuple[Callable[[str, ModelOptions], LanguageModel], str]] = {
    "hf": (_hf, "hf:<local folder>  a transformers causal LM (CPU/CUDA, fp32/bf16)"),
    "openai": (_openai, "openai:<model>  OpenAI-compatible HTTP (OpenAI, vLLM, llama.cpp, Ollama)"),
    "llamacpp": (_llamacpp, "llamacpp:<file.gguf>  a local GGUF served by llama-cpp-python"),
}


def load_model(spec: str, options: ModelOptions = ModelOptions()) -> LanguageModel:
    """Resolve a model spec string to a ready backend; an unknown spec is a one-line ConfigError."""
    spec = spec.strip()
    if spec in EMBEDDED:
        return _embedded(spec, options)
    if spec == "tiny-random" or spec.startswith("tiny-random:"):
        return _tiny(spec.partition(":")[2], options)
    scheme, sep, arg = spec.partition(":")
    if sep and scheme in SCHEMES and arg:
        return SCHEMES[scheme][0](arg, options)
    known = [*EMBEDDED, "tiny-random", *(f"{s}:<...>" for s in SCHEMES)]
    raise ConfigError(f"unknown model spec {spec!r}; use one of: {', '.join(known)}")


def describe_models() -> list[tuple[str, str]]:
    """(spec, description) rows for `promptflux models`."""
    rows = [(name, m.description) for name, m in EMBEDDED.items()]
    rows.append(("tiny-random[:seed]", "tiny random Llama with the SmolLM2 tokenizer (tests, smoke runs)"))
    rows += [(f"{s}:...", desc) for s, (_, desc) in SCHEMES.items()]
    return rows
