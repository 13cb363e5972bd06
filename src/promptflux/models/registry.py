"""Model specs a user can type, resolved to a backend.

    qwen2.5-coder-0.5b | qwen2.5-coder-1.5b | smollm2 | gemma3-270m
                                 embedded offline models; `<name>@hf` or `<name>@llamacpp` picks one
                                 engine, the bare name the model's defaults (EmbeddedModel.generation_engine)
    tiny-random                  a tiny random Llama for smoke tests
    hf:<folder>                  any local transformers causal-LM folder
    openai:<model>               an OpenAI-compatible server (--base-url / OPENAI_BASE_URL; key from env)
    llamacpp:<file.gguf>         a llama.cpp server started and stopped by promptflux

A new backend = one module + one entry in SCHEMES.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from promptflux.errors import ConfigError
from promptflux.models.base import LanguageModel
from promptflux.models.embedded import EMBEDDED, materialize
from promptflux.models.hf import HFLanguageModel, HFSettings, precision_label, resolve_device_dtype

DEFAULT_KEY_ENV = "OPENAI_API_KEY"  # may be unset (local servers need no key); any other name must be set


@dataclass(frozen=True)
class ModelOptions:
    """Backend options a CLI or config can set; each backend reads the ones that concern it."""

    hf: HFSettings = HFSettings()
    base_url: str | None = None  # openai: server URL (else $OPENAI_BASE_URL)
    api_key_env: str = DEFAULT_KEY_ENV  # name of the env var holding the key; the key is never stored
    concurrency: int = 8
    timeout: float = 60.0  # seconds per HTTP request attempt (--timeout)
    max_retries: int = 4  # extra attempts after a timeout, 5xx, 429 or dropped connection (--retries)
    url_flag: str = "--base-url"  # the flags base_url and api_key_env came from, for error messages
    key_flag: str = "--api-key-env"


ENGINES = ("hf", "llamacpp")


def _embedded_hf(name: str, options: ModelOptions) -> HFLanguageModel:
    return HFLanguageModel.from_pretrained(materialize(name), name=name, settings=options.hf)


def _embedded_llamacpp(name: str, options: ModelOptions) -> LanguageModel:
    from promptflux.models.llamacpp import LlamaCppEngine, LlamaCppSettings

    model = EMBEDDED[name]
    return LlamaCppEngine(
        model.gguf_path(),
        name=name,
        label=_gguf_label(name),
        settings=LlamaCppSettings(seed=options.hf.seed),
    )


def _gguf_label(name: str) -> str:
    """Model, file and quantisation as they enter fingerprints (the digest pins the exact file)."""
    model = EMBEDDED[name]
    if model.split is not None:
        return f"{name}|{model.split.file_name}|sha256:{model.split.sha256[:12]}"
    path = model.gguf_path()
    return f"{name}|{path.name}|{path.stat().st_size}"


def _embedded(name: str, engine: str | None, options: ModelOptions) -> LanguageModel:
    """An embedded model on one engine, or (no engine named) on the model's default engines."""
    if engine == "hf":
        return _embedded_hf(name, options)
    if engine == "llamacpp":
        return _embedded_llamacpp(name, options)
    if EMBEDDED[name].generation_engine == "hf":
        return _embedded_hf(name, options)
    from promptflux.models.llamacpp import engine_label
    from promptflux.models.routed import RoutedLM

    _, dtype = resolve_device_dtype(options.hf)
    return RoutedLM(
        name,
        generator=lambda: _embedded_llamacpp(name, options),
        scorer=lambda: _embedded_hf(name, options),
        generator_label=engine_label(_gguf_label(name)),
        scorer_label=f"hf:{name}|{precision_label(options.hf, dtype)}",
    )


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
            f"openai:{arg} needs a server: pass {options.url_flag} (e.g. http://localhost:8000/v1, or "
            f"https://api.openai.com/v1 for OpenAI itself) or set $OPENAI_BASE_URL"
        )
    key_env = options.api_key_env
    if key_env != DEFAULT_KEY_ENV and not os.environ.get(key_env):
        raise ConfigError(
            f"{options.key_flag} names ${key_env}, which is not set (or empty) in this environment"
        )
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


def reaches_server(spec: str) -> bool:
    """Whether `spec` is reached through a URL and key (ModelOptions.base_url), so that one spec on two
    servers is two models; every other backend ignores them."""
    return spec.strip().partition(":")[0] == "openai"


def load_model(spec: str, options: ModelOptions = ModelOptions()) -> LanguageModel:
    """Resolve a model spec string to a ready backend; an unknown spec is a one-line ConfigError."""
    spec = spec.strip()
    name, at, engine = spec.partition("@")
    if name in EMBEDDED and (not at or engine in ENGINES):
        return _embedded(name, engine or None, options)
    if name in EMBEDDED:
        raise ConfigError(
            f"unknown engine {engine!r} in {spec!r}; use {name}, or {name}@<engine> with <engine> "
            f"one of: {', '.join(ENGINES)}"
        )
    if spec == "tiny-random" or spec.startswith("tiny-random:"):
        return _tiny(spec.partition(":")[2], options)
    scheme, sep, arg = spec.partition(":")
    if sep and scheme in SCHEMES and arg:
        return SCHEMES[scheme][0](arg, options)
    known = [*EMBEDDED, "tiny-random", *(f"{s}:<...>" for s in SCHEMES)]
    close = difflib.get_close_matches(spec, [*EMBEDDED, "tiny-random"], n=1)
    if close:
        raise ConfigError(
            f"unknown model spec {spec!r}; did you mean {close[0]!r}? (all: {', '.join(known)})"
        )
    raise ConfigError(f"unknown model spec {spec!r}; use one of: {', '.join(known)}")


def describe_models() -> list[tuple[str, str]]:
    """(spec, description) rows for `promptflux models`."""
    rows = [(name, m.description) for name, m in EMBEDDED.items()]
    rows.append(("tiny-random[:seed]", "tiny random Llama with the SmolLM2 tokenizer (tests, smoke runs)"))
    rows += [(f"{s}:...", desc) for s, (_, desc) in SCHEMES.items()]
    return rows
