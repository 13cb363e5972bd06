"""Hugging Face transformers backend (CPU or CUDA; fp32, bf16, or int8 on CPU); LoRA lives in hf_lora.py.

Scoring is where prompt optimisation spends its compute: P prompts x N examples, each a short input
after the same instruction. Requests are therefore grouped by shared token prefix; each group's prefix
is run once and its KV cache reused for every suffix in the group (one batched forward per chunk),
instead of re-encoding the instruction N times.

Sampling reproducibility: each generate call reseeds a forked torch RNG from (seed, call counter), so a
run that makes the same calls in the same order samples the same texts, without touching global state.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from promptflux.errors import ConfigError
from promptflux.models.base import LanguageModel, chat_messages, cut_at_stop, plain_conversation
from promptflux.models.hf_lora import FrozenBase, LoraSettings, LoraTrainable
from promptflux.models.scoring import ScoreUnit, chunk_by_length, plan_prefix_groups
from promptflux.types import Generation, GenRequest, SamplingParams, ScoreRequest, ScoreResult


@dataclass(frozen=True)
class HFSettings:
    """How the model is loaded and batched."""

    device: str = "auto"  # "auto" picks cuda when available
    # "auto": bf16 on CUDA, fp32 on CPU; or float32 / bfloat16 / float16, or int8 (CPU: the linear
    # layers quantised to int8 with dynamic activation scales, the rest fp32)
    dtype: str = "auto"
    batch_size: int = 64  # sequences per forward pass when scoring
    gen_batch_size: int = 16  # prompts per generate call
    max_batch_tokens: int = 8192  # caps batch_size x padded length when scoring
    min_shared_prefix: int = 8  # shorter shared prefixes are not worth a separate KV pass
    seed: int = 0


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
INT8 = "int8"  # dynamic int8 quantisation of the linear layers (CPU only)


def resolve_device_dtype(settings: HFSettings) -> tuple[torch.device, torch.dtype]:
    """The device and the dtype the weights are loaded in (int8 loads fp32, then quantises)."""
    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if settings.dtype == "auto":
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    elif settings.dtype in _DTYPES:
        dtype = _DTYPES[settings.dtype]
    elif settings.dtype == INT8:
        if device != "cpu":
            raise ConfigError("dtype int8 (dynamic quantisation) runs on the CPU only; use --device cpu")
        dtype = torch.float32
    else:
        raise ConfigError(f"unknown dtype {settings.dtype!r}; choose auto, {', '.join(_DTYPES)}, {INT8}")
    return torch.device(device), dtype


def precision_label(settings: HFSettings, dtype: torch.dtype) -> str:
    """The numeric format as it enters fingerprints: a quantised model is a different model."""
    return "int8-dynamic" if settings.dtype == INT8 else str(dtype).removeprefix("torch.")


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer blocks' nn.Linear layers as int8 (per-output-channel weight scales, activation
    scales per call; fbgemm kernels on x86). The vocabulary head stays fp32: its 150k rows are where
    one coarse scale hurts most, and it runs only where logits are read."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    head = model.get_output_embeddings()
    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return quantize_dynamic(model, dict.fromkeys(names, per_channel_dynamic_qconfig), dtype=torch.qint8)


__all__ = ["FrozenBase", "HFLanguageModel", "HFSettings", "LoraSettings", "resolve_device_dtype"]


class HFLanguageModel(LoraTrainable, LanguageModel):
    """A causal LM from transformers. Construct with `from_pretrained` or from an in-memory model."""

    def __init__(self, model, tokenizer, name: str, settings: HFSettings = HFSettings()) -> None:
        super().__init__()
        self.name = name
        self.settings = settings
        self.device, self.dtype = resolve_device_dtype(settings)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.quantized = settings.dtype == INT8
        if self.quantized:
            self.model = quantize_int8(self.model)
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self._calls = 0

    @classmethod
    def from_pretrained(cls, path: str | Path, name: str | None = None, settings: HFSettings = HFSettings()):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise ConfigError(
                f"no model folder at {path} (expected config.json there); promptflux never downloads "
                "from a hub: pass a local folder, or an embedded model such as `smollm2`"
            )
        _, dtype = resolve_device_dtype(settings)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        return cls(model, tokenizer, name or f"hf:{path}", settings)

    # ------------------------------------------------------------------ identity

    def fingerprint(self) -> str:
        base = f"hf:{self.name}|{precision_label(self.settings, self.dtype)}"
        if self._lora and self._adapter_enabled:
            return f"{base}|lora:{self.adapter_digest()}"
        return base

    # ------------------------------------------------------------------ rendering

    def render(
        self,
        text: str,
        chat: bool,
        system: str | None = None,
        history: Sequence[tuple[str, str]] = (),
        prefill: str = "",
    ) -> list[int]:
        """Token ids of the model input: raw text, or a conversation through the chat template.

        A chat is the optional system turn, the (user, assistant) pairs of `history`, then `text` as the
        last user turn. Without a chat template the same turns are joined by blank lines, the way a
        single chat turn already falls back to plain text, so base models still see the whole exchange.
        `prefill` is appended after the assistant header (or the text), so generation continues it.
        """
        tok = self.tokenizer
        if chat and self.has_chat_template:
            messages = chat_messages(text, system, history)
            rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return tok.encode(rendered + prefill, add_special_tokens=False)
        if chat:
            text = plain_conversation(text, system, history)
        return tok.encode(text + (f"\n\n{prefill}" if prefill and chat else prefill), add_special_tokens=True)

    # ------------------------------------------------------------------ scoring

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        units: list[ScoreUnit] = []
        prompt_tokens: list[int] = []
        for i, req in enumerate(requests):
            ctx = self.render(req.context, req.chat, req.system)
            conts = [self.tokenizer.encode(c, add_special_tokens=False) for c in req.continuations]
            if any(not c for c in conts):
                raise ConfigError(f"empty continuation in score request {req.continuations!r}")
            prompt_tokens.append(len(ctx))
            if all(len(c) == 1 for c in conts):
                # Every label is one token: one sequence, read all labels at the last position.
                units.append(
                    ScoreUnit(i, tuple(ctx), tuple((j, len(ctx), tuple(c)) for j, c in enumerate(conts)))
                )
            else:
                for j, c in enumerate(conts):
                    units.append(ScoreUnit(i, tuple(ctx + c[:-1]), ((j, len(ctx), tuple(c)),)))
        sums = [[0.0] * len(r.continuations) for r in requests]
        with torch.inference_mode():
            for unit, values in self._forward_units(units):
                for (j, _, _), v in zip(unit.reads, values):
                    sums[unit.request][j] = v
        return [ScoreResult(tuple(s), n) for s, n in zip(sums, prompt_tokens)]

    def _forward_units(self, units: list[ScoreUnit]) -> Iterator[tuple[ScoreUnit, list[float]]]:
        s = self.settings
        for group in plan_prefix_groups(units, s.min_shared_prefix):
            past = None
            if group.prefix_len:
                prefix = torch.tensor([group.units[0].ids[: group.prefix_len]], device=self.device)
                past = self.model(input_ids=prefix, use_cache=True).past_key_values
            for chunk in chunk_by_length(group.units, group.prefix_len, s.batch_size, s.max_batch_tokens):
                log_probs, offsets = self._suffix_log_probs(chunk, group.prefix_len, past)
                for b, unit in enumerate(chunk):
                    values = []
                    for _, start, cont in unit.reads:
                        pos = torch.arange(len(cont), device=self.device) + (start - 1 - offsets[b])
                        tgt = torch.tensor(cont, device=self.device)
                        values.append(log_probs[b, pos, tgt].sum().item())
                    yield unit, values

    def _suffix_log_probs(
        self, chunk: list[ScoreUnit], prefix_len: int, past
    ) -> tuple[torch.Tensor, list[int]]:
        """Log-softmax at the positions a chunk reads, and per row the sequence position of column 0.

        Suffixes are left-padded so every read position sits at the end of the row; the LM head then
        runs on the last K columns only (K = 1 when every label is one token), not on every position.
        Returns (B, K, V) log-probs.
        """
        suffixes = [u.ids[prefix_len:] for u in chunk]
        B, S = len(chunk), max(map(len, suffixes))
        keep = max(len(u.ids) - u.first_read for u in chunk)  # positions from first read to the end
        pad = self.tokenizer.pad_token_id
        ids = torch.full((B, S), pad, dtype=torch.long, device=self.device)
        mask = torch.zeros((B, S), dtype=torch.long, device=self.device)
        positions = torch.full((B, S), prefix_len, dtype=torch.long, device=self.device)
        for b, suf in enumerate(suffixes):
            lead = S - len(suf)
            ids[b, lead:] = torch.tensor(suf, device=self.device)
            mask[b, lead:] = 1
            positions[b, lead:] = prefix_len + torch.arange(len(suf), device=self.device)
        kwargs = {"position_ids": positions, "logits_to_keep": keep}
        if past is not None:
            cache = copy.deepcopy(past)
            cache.batch_repeat_interleave(B)
            prefix_mask = torch.ones((B, prefix_len), dtype=torch.long, device=self.device)
            mask = torch.cat([prefix_mask, mask], dim=1)
            kwargs["past_key_values"] = cache
        logits = self.model(input_ids=ids, attention_mask=mask, **kwargs).logits  # (B, keep, V)
        # Column 0 of the kept logits is sequence position len(u.ids) - keep for row b.
        offsets = [len(u.ids) - keep for u in chunk]
        return torch.log_softmax(logits.float(), dim=-1), offsets

    # ------------------------------------------------------------------ generation

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        out: list[Generation | None] = [None] * len(requests)
        by_params: dict[tuple[SamplingParams, int], list[int]] = {}
        for i, r in enumerate(requests):
            by_params.setdefault((r.params, r.n), []).append(i)
        for (params, n), idx in by_params.items():
            for start in range(0, len(idx), self.settings.gen_batch_size):
                batch = [requests[i] for i in idx[start : start + self.settings.gen_batch_size]]
                inputs = [self.render(r.prompt, r.chat, r.system, r.history, r.prefill) for r in batch]
                for i, r, gen in zip(idx[start:], batch, self._generate_batch(inputs, params, n)):
                    # The pre-filled start is part of the reply, as a chat API would return it.
                    out[i] = replace(gen, texts=tuple(r.prefill + t for t in gen.texts)) if r.prefill else gen
        return out  # type: ignore[return-value]

    def _generate_batch(self, inputs: list[list[int]], params: SamplingParams, n: int) -> list[Generation]:
        tok = self.tokenizer
        width = max(map(len, inputs))
        pad = tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(x)) + x for x in inputs], device=self.device)  # left-padded
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in inputs], device=self.device)
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=n,
            pad_token_id=pad,
            do_sample=not params.greedy,
        )
        if not params.greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        self._calls += 1
        with torch.inference_mode(), torch.random.fork_rng(devices=self.rng_devices):
            torch.manual_seed(self.settings.seed * 1_000_003 + self._calls)
            seqs = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        new = seqs[:, width:]
        results = []
        for b, x in enumerate(inputs):
            texts, completion = [], 0
            for k in range(n):
                row = new[b * n + k]
                real = row[row != pad] if pad != tok.eos_token_id else _until_eos(row, tok.eos_token_id)
                completion += len(real)
                texts.append(cut_at_stop(tok.decode(real, skip_special_tokens=True), params.stop))
            results.append(Generation(tuple(texts), len(x), completion))
        return results

    @property
    def rng_devices(self) -> list[int]:
        """CUDA devices whose RNG a forked-RNG block must save and restore (none on CPU)."""
        return [self.device.index or 0] if self.device.type == "cuda" else []


def _until_eos(row: torch.Tensor, eos: int) -> torch.Tensor:
    hits = (row == eos).nonzero()
    return row[: hits[0].item()] if len(hits) else row
