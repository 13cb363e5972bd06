"""llama.cpp in-process: fast generation (and log-probs) on a quantised GGUF, no server, no HTTP.

Why in-process next to the server backend (`llamacpp_server.py`): a prompt search sends thousands of
short requests that share an instruction. In-process, the requests are ordered so that neighbours share
their longest token prefix, and llama.cpp's KV cache keeps that prefix: each example pays only for its
own tokens. Log-probs are read from the logits of the continuation positions only (one position when
every label is one token), with no vocabulary sort and no off-by-one for models without BOS — the two
problems of the server's echoed prompt log-probs.

Prompts are rendered with the GGUF's own chat template (Jinja, as transformers renders it), so the
engine sees the same conversation text as the transformers engine of the same model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptflux.errors import ConfigError
from promptflux.models.base import LanguageModel, chat_messages, cut_at_stop, plain_conversation
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult

_INSTALL_HINT = "llama-cpp-python is not installed; run scripts/install.sh (or pip install llama-cpp-python)"


@dataclass(frozen=True)
class LlamaCppSettings:
    n_ctx: int = 4096  # meta-prompts of the optimiser methods reach ~2k tokens
    n_batch: int = 512
    threads: int | None = None  # None: torch's thread count (compare sets it per parallel trial)
    seed: int = 0


def _threads(settings: LlamaCppSettings) -> int:
    if settings.threads:
        return settings.threads
    import torch

    return max(1, torch.get_num_threads())


class LlamaCppEngine(LanguageModel):
    """A GGUF loaded into this process with llama-cpp-python; `label` names it in fingerprints."""

    def __init__(
        self, gguf: str | os.PathLike[str], name: str, label: str, settings=LlamaCppSettings()
    ) -> None:
        super().__init__()
        try:
            import llama_cpp
        except ImportError:
            raise ConfigError(_INSTALL_HINT) from None
        path = Path(gguf).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF file not found: {path}")
        self.name = name
        self.label = label
        self.settings = settings
        self._lib = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            n_threads=_threads(settings),
            n_threads_batch=_threads(settings),
            logits_all=False,
            verbose=False,
        )
        self._template = _compile_template(self.llm.metadata.get("tokenizer.chat_template"))
        self._vocab = self.llm._model.vocab
        self._bos = self._token_text(self.llm.token_bos())
        self._eos = self._token_text(self.llm.token_eos())

    def fingerprint(self) -> str:
        return f"llamacpp-inproc:{self.label}"

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()

    # ------------------------------------------------------------------ rendering

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def render(
        self,
        text: str,
        chat: bool,
        system: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        prefill: str = "",
    ) -> list[int]:
        """Token ids of the model input, laid out as `HFLanguageModel.render` lays them out."""
        if chat and self._template is not None:
            rendered = self._template.render(
                messages=chat_messages(text, system, history),
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
            )
            return self._tokenize(rendered + prefill, special=True, add_bos=False)
        if chat:
            text = plain_conversation(text, system, history)
        return self._tokenize(text + (f"\n\n{prefill}" if prefill and chat else prefill), special=False)

    def _tokenize(self, text: str, special: bool, add_bos: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    # ------------------------------------------------------------------ KV cache reuse

    def _feed(self, tokens: list[int]) -> np.ndarray:
        """Make `tokens` the evaluated sequence, reusing the cached common prefix; last logits (V,)."""
        llm = self.llm
        if len(tokens) > llm.n_ctx():
            raise ConfigError(
                f"a request of {len(tokens)} tokens exceeds the llama.cpp context of {llm.n_ctx()}; "
                "shorten the prompt or raise n_ctx"
            )
        cached = llm.input_ids[: llm.n_tokens]
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # re-run at least one token: its logits are needed
        llm._ctx.kv_cache_seq_rm(-1, common, -1)
        llm.n_tokens = common
        llm.eval(tokens[common:])
        return self._last_logits()

    def _last_logits(self) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).astype(np.float64)

    # ------------------------------------------------------------------ scoring

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        rendered = [self.render(r.context, r.chat, r.system) for r in requests]
        out: list[ScoreResult | None] = [None] * len(requests)
        for i in sorted(range(len(requests)), key=lambda i: rendered[i]):  # neighbours share prefixes
            ctx, req = rendered[i], requests[i]
            conts = [self._tokenize(c, special=False, add_bos=False) for c in req.continuations]
            if any(not c for c in conts):
                raise ConfigError(f"empty continuation in score request {req.continuations!r}")
            first = _log_softmax(self._feed(ctx))
            values = []
            for cont in conts:
                total = float(first[cont[0]])
                for k in range(1, len(cont)):
                    total += float(_log_softmax(self._feed(ctx + cont[:k]))[cont[k]])
                values.append(total)
            out[i] = ScoreResult(tuple(values), len(ctx))
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ generation

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        rendered = [self.render(r.prompt, r.chat, r.system, r.history, r.prefill) for r in requests]
        out: list[Generation | None] = [None] * len(requests)
        for i in sorted(range(len(requests)), key=lambda i: rendered[i]):
            req, tokens = requests[i], rendered[i]
            texts, completion = [], 0
            for k in range(req.n):
                text, n_new = self._complete(tokens, req, self._seed(tokens, req.sample_id, k))
                texts.append(req.prefill + text)
                completion += n_new
            out[i] = Generation(tuple(texts), len(tokens), completion)
        return out  # type: ignore[return-value]

    def _seed(self, tokens: list[int], sample_id: int, k: int) -> int:
        """A sampling seed fixed by (engine seed, input, sample id, draw): order-independent and resumable."""
        key = f"{self.settings.seed}|{sample_id}|{k}|{','.join(map(str, tokens))}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")

    def _complete(self, tokens: list[int], req: GenRequest, seed: int) -> tuple[str, int]:
        params = req.params
        if len(tokens) + params.max_new_tokens > self.llm.n_ctx():
            raise ConfigError(
                f"a request of {len(tokens)} tokens plus {params.max_new_tokens} new ones exceeds the "
                f"llama.cpp context of {self.llm.n_ctx()}; shorten the prompt or raise n_ctx"
            )
        self.llm.set_seed(seed)
        sampling = {"temp": 0.0} if params.greedy else {"temp": params.temperature, "top_p": params.top_p}
        new: list[int] = []
        text = ""
        for token in self.llm.generate(
            tokens, top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0, reset=True, **sampling
        ):
            if self._lib.llama_vocab_is_eog(self._vocab, token):
                break
            new.append(token)
            text = self.llm.detokenize(new).decode("utf-8", errors="ignore")
            if params.stop and any(s in text for s in params.stop):
                break
            if len(new) >= params.max_new_tokens:
                break
        return cut_at_stop(text, params.stop), len(new)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def _compile_template(source: str | None):
    """The GGUF's chat template as a sandboxed Jinja template, with the helpers transformers provides."""
    if not source:
        return None
    from datetime import datetime

    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ConfigError(f"chat template: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)
