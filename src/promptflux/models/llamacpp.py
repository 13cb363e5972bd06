"""llama.cpp in-process: fast generation and log-probs on a quantised GGUF, no server, no HTTP.

Why in-process next to the server backend (`llamacpp_server.py`): a prompt search sends thousands of
short requests that share an instruction. In-process, requests sharing an instruction are decoded from
one copy of its KV cache, many sequences advance in each decode step (`llamacpp_batch.py`), and
log-probs are read from the logits of the continuation positions only (one position when every label is
one token), with no vocabulary sort and no off-by-one for models without BOS — the two problems of the
server's echoed prompt log-probs.

Sampling is done here, in numpy, from a generator seeded by (seed, input, sample id, draw), so a sample
does not depend on which other requests shared its batch, or in what order.

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
from promptflux.models.llamacpp_batch import BatchedContext, Job
from promptflux.types import Generation, GenRequest, SamplingParams, ScoreRequest, ScoreResult


def engine_label(label: str) -> str:
    """How an in-process llama.cpp engine on the file `label` names itself in fingerprints."""
    return f"llamacpp-batched:{label}"


_INSTALL_HINT = "llama-cpp-python is not installed; run scripts/install.sh (or pip install llama-cpp-python)"


@dataclass(frozen=True)
class LlamaCppSettings:
    n_ctx: int = 8192  # KV cells shared by all slots; optimiser meta-prompts reach ~2k tokens
    n_batch: int = 512
    slots: int = 16  # sequences decoded together (benchmarks/target_engines.py measures the choice)
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
        # The high-level object loads the weights and tokenises; its own context stays unused (small).
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=64, n_batch=64, logits_all=False, verbose=False
        )
        self.batched = BatchedContext(
            llama_cpp,
            self.llm._model.model,
            self.llm.n_vocab(),
            slots=settings.slots,
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            threads=_threads(settings),
        )
        self._template = _compile_template(self.llm.metadata.get("tokenizer.chat_template"))
        self._vocab = self.llm._model.vocab
        self._bos = self._token_text(self.llm.token_bos())
        self._eos = self._token_text(self.llm.token_eos())

    def fingerprint(self) -> str:
        return engine_label(self.label)

    def close(self) -> None:
        batched = getattr(self, "batched", None)
        if batched is not None:
            batched.close()
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

    # ------------------------------------------------------------------ scoring

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        jobs: list[Job] = []
        labels: list[list[list[int]]] = []
        lengths: list[int] = []
        for i, req in enumerate(requests):
            ctx = self.render(req.context, req.chat, req.system)
            conts = [self._tokenize(c, special=False, add_bos=False) for c in req.continuations]
            if any(not c for c in conts):
                raise ConfigError(f"empty continuation in score request {req.continuations!r}")
            labels.append(conts)
            lengths.append(len(ctx))
            if all(len(c) == 1 for c in conts):  # every label one token: read them all at one position
                jobs.append(Job((i, -1), ctx, len(ctx) - 1))
            else:
                jobs.extend(Job((i, j), ctx + c[:-1], len(ctx) - 1) for j, c in enumerate(conts))
        self.batched.run(jobs)
        values = [[0.0] * len(c) for c in labels]
        for job in jobs:
            i, j = job.key  # type: ignore[misc]
            rows = _log_softmax(job.rows)  # type: ignore[arg-type]
            if j < 0:
                values[i] = [float(rows[-1, c[0]]) for c in labels[i]]
            else:
                values[i][j] = float(sum(rows[k, t] for k, t in enumerate(labels[i][j])))
        return [ScoreResult(tuple(v), n) for v, n in zip(values, lengths)]

    # ------------------------------------------------------------------ generation

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        jobs: list[Job] = []
        lengths: list[int] = []
        for i, req in enumerate(requests):
            tokens = self.render(req.prompt, req.chat, req.system, req.history, req.prefill)
            lengths.append(len(tokens))
            for k in range(req.n):
                rng = np.random.default_rng(self._seed(tokens, req.sample_id, k))
                state = _Decoding(req.params, rng)
                jobs.append(Job((i, k), tokens, len(tokens) - 1, req.params.max_new_tokens, state=state))
        self.batched.run(jobs, self._choose)
        texts: list[list[str]] = [[""] * r.n for r in requests]
        completion = [0] * len(requests)
        for job in jobs:
            i, k = job.key  # type: ignore[misc]
            texts[i][k] = requests[i].prefill + job.state.text  # type: ignore[union-attr]
            completion[i] += len(job.new)
        return [Generation(tuple(t), n, c) for t, n, c in zip(texts, lengths, completion)]

    def _seed(self, tokens: list[int], sample_id: int, k: int) -> int:
        """A sampling seed fixed by (engine seed, input, sample id, draw): order-independent and resumable."""
        key = f"{self.settings.seed}|{sample_id}|{k}|{','.join(map(str, tokens))}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")

    def _choose(self, job: Job, logits: np.ndarray) -> bool:
        """Append the next token of a generating job; False once it is finished (end, stop or length)."""
        state: _Decoding = job.state  # type: ignore[assignment]
        params = state.params
        if len(job.new) >= params.max_new_tokens:
            return False
        token = int(np.argmax(logits)) if params.greedy else _sample(logits, params, state.rng)
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            return False
        job.new.append(token)
        state.text = self.llm.detokenize(job.new).decode("utf-8", errors="ignore")
        if params.stop and any(s in state.text for s in params.stop):
            state.text = cut_at_stop(state.text, params.stop)
            return False
        return len(job.new) < params.max_new_tokens


@dataclass
class _Decoding:
    params: SamplingParams
    rng: np.random.Generator
    text: str = ""


def _sample(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """Temperature and nucleus (top-p) sampling from one row of logits."""
    z = logits.astype(np.float64) / max(params.temperature, 1e-6)
    p = np.exp(z - z.max())
    p /= p.sum()
    if params.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        keep = order[: int(np.searchsorted(np.cumsum(p[order]), params.top_p)) + 1]
        return int(rng.choice(keep, p=p[keep] / p[keep].sum()))
    return int(rng.choice(len(p), p=p))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


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
