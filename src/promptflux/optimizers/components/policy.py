"""The prompt-LM q_theta(z | M): a LoRA adapter on a `TrainableLM`, whose frozen base is p_ref.

A component shared by every prompt-LM method (GFlowPO, PPO, best-of-N sampling).

A prompt z is the token sequence the policy sampled after the meta-prompt context
(rendered chat turn + answer prefix), up to and including its terminating token: the first token that
contains a newline, or an end-of-sequence token. The terminator is part of the trajectory because
stopping is an action the policy takes; an instruction cut by `max_new_tokens` has no terminator
(`finished=False`) and the caller decides whether to keep it.

Both log q (adapter on, with gradient) and log p_ref (adapter off, no gradient) are computed on the
very token ids that were sampled, never on a re-tokenisation of the extracted text, so there is no
tokenisation drift; a replayed prompt keeps its ids, and only its context (the current M) changes.
The extracted text (see `extract_instruction`) is what the target LM is evaluated on; several
trajectories can map to one text (e.g. trailing words after a closing quote), which the replay buffer
resolves by keeping the best entry per text.

Sampling uses temperature and top-p only (top-k is disabled) and is seeded from the caller's numpy
Generator inside a forked torch RNG, so no global random state is touched. Each sample carries a
`key` fixed by (prompt-LM, M, decoding parameters, seed, index): the run's ledger records it, so a step
redone after a resume is not charged twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from promptflux.errors import ConfigError
from promptflux.models.trainable import LoraSettings, TrainableLM
from promptflux.optimizers.components.meta_prompt import MetaPrompt, extract_instruction


@dataclass(frozen=True)
class SampledPrompt:
    """One sampled instruction. `text` is None when the reply held no usable instruction."""

    text: str | None
    token_ids: tuple[int, ...]  # the trajectory: sampled tokens up to and including the terminator
    raw: str  # the decoded trajectory, for logs
    finished: bool  # ended with a terminator rather than at max_new_tokens
    key: str = ""  # the ledger key of this sample (see the module docstring)


class PromptPolicy:
    """Samples and scores prompts given a meta-prompt. Adds the LoRA adapter when `lora` is given.

    peft draws the adapter's A matrices from torch's global RNG; `init_seed` draws them from a forked
    RNG seeded with it instead, so a run's adapter starts the same in every process.
    """

    def __init__(
        self,
        lm: TrainableLM,
        lora: LoraSettings | None = None,
        *,
        stop_at_newline: bool = True,
        init_seed: int | None = None,
    ):
        from peft import PeftModel

        if lora is not None and init_seed is not None:
            with torch.random.fork_rng(devices=lm.rng_devices):
                torch.manual_seed(init_seed)
                lm.add_lora(lora)
        elif lora is not None:
            lm.add_lora(lora)
        if not isinstance(lm.model, PeftModel):
            raise ConfigError(f"{lm.name} has no trainable adapter; pass `lora` to PromptPolicy")
        self.lm = lm
        self.stop_at_newline = stop_at_newline
        self._terminal_ids: frozenset[int] | None = None

    # ------------------------------------------------------------------ trajectories
    @property
    def terminal_ids(self) -> frozenset[int]:
        """Token ids that end an instruction: end-of-sequence ids, and every token containing a newline."""
        if self._terminal_ids is None:
            tok = self.lm.tokenizer
            eos = self.lm.model.generation_config.eos_token_id
            ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
            if tok.eos_token_id is not None:
                ids.add(tok.eos_token_id)
            if self.stop_at_newline:
                pieces = tok.batch_decode([[i] for i in range(len(tok))])
                ids.update(i for i, piece in enumerate(pieces) if "\n" in piece)
            self._terminal_ids = frozenset(ids)
        return self._terminal_ids

    def split_trajectory(self, row: Sequence[int]) -> tuple[tuple[int, ...], bool]:
        """Generated ids cut after the first terminator; (ids, finished)."""
        terminals = self.terminal_ids
        for i, token in enumerate(row):
            if token in terminals:
                return tuple(row[: i + 1]), True
        return tuple(row), False

    def trajectory_of(self, text: str) -> tuple[int, ...]:
        """The trajectory the policy would have sampled to write `text` (a prompt found elsewhere): the
        instruction after the answer prefix, then a newline terminator, cut as a sample is cut."""
        ids = self.lm.tokenizer.encode(f" {text}\n", add_special_tokens=False)
        return self.split_trajectory(ids)[0]

    def context_ids(self, meta: MetaPrompt) -> list[int]:
        """Token ids that precede the instruction: M as a user turn, then the pre-filled reply start."""
        tok = self.lm.tokenizer
        if self.lm.has_chat_template:
            prefix = tok.encode(meta.answer_prefix, add_special_tokens=False)
            return self.lm.render(meta.text, chat=True) + prefix
        return self.lm.render(f"{meta.text}\n\n{meta.answer_prefix}", chat=False)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        meta: MetaPrompt,
        n: int,
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        rng: np.random.Generator,
    ) -> list[SampledPrompt]:
        """n prompts from the adapted policy, tempered; reproducible from `rng`."""
        if n < 1 or temperature <= 0 or not 0 < top_p <= 1 or max_new_tokens < 1:
            raise ValueError(
                f"need n >= 1, temperature > 0, 0 < top_p <= 1, max_new_tokens >= 1; got {n}, "
                f"{temperature}, {top_p}, {max_new_tokens}"
            )
        lm, tok = self.lm, self.lm.tokenizer
        context = torch.tensor([self.context_ids(meta)], device=lm.device)  # (1, L)
        seed = int(rng.integers(2**62))
        rows: list[list[int]] = []
        with torch.inference_mode(), self._mode(train=False), torch.random.fork_rng(devices=lm.rng_devices):
            torch.manual_seed(seed)
            for start in range(0, n, lm.settings.gen_batch_size):
                m = min(lm.settings.gen_batch_size, n - start)
                out = lm.model.generate(
                    input_ids=context,
                    attention_mask=torch.ones_like(context),
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                    top_k=0,
                    max_new_tokens=max_new_tokens,
                    num_return_sequences=m,
                    eos_token_id=sorted(self.terminal_ids),
                    pad_token_id=tok.pad_token_id,
                )  # (m, L + new)
                rows += out[:, context.shape[1] :].tolist()
        samples = []
        request = [self.lm.name, meta.text, temperature, top_p, max_new_tokens, seed]
        for i, row in enumerate(rows):
            ids, finished = self.split_trajectory(row)
            raw = tok.decode(list(ids), skip_special_tokens=True)
            key = hashlib.sha256(json.dumps(["prompt-lm-sample", *request, i]).encode()).hexdigest()
            samples.append(SampledPrompt(extract_instruction(raw), ids, raw, finished, key))
        return samples

    # ------------------------------------------------------------------ scoring
    def log_q(
        self, meta: MetaPrompt, token_ids: Sequence[Sequence[int]], *, train_mode: bool = True
    ) -> torch.Tensor:
        """log q_theta(z | M) per trajectory, differentiable w.r.t. the adapter. Shape (B,).

        `train_mode` runs the model in training mode, i.e. with the configured LoRA dropout, as the
        reference does during its updates; pass False for a deterministic value (logging, tests).
        """
        context, conts = self._batch(meta, token_ids)
        if not conts:
            return torch.zeros(0, device=self.lm.device)
        with self._mode(train=train_mode):
            return self.lm.sequence_log_probs([context] * len(conts), conts)

    def log_prior(self, meta: MetaPrompt, token_ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """log p_ref(z | M): the same model with the adapter switched off, no gradient. Shape (B,)."""
        context, conts = self._batch(meta, token_ids)
        if not conts:
            return torch.zeros(0, device=self.lm.device)
        with torch.no_grad(), self._mode(train=False), self.lm.adapter_disabled():
            return self.lm.sequence_log_probs([context] * len(conts), conts)

    def _batch(
        self, meta: MetaPrompt, token_ids: Sequence[Sequence[int]]
    ) -> tuple[list[int], list[list[int]]]:
        conts = [list(ids) for ids in token_ids]
        if any(not ids for ids in conts):
            raise ValueError("cannot score an empty trajectory")
        return self.context_ids(meta), conts

    # ------------------------------------------------------------------ training support
    def parameters(self) -> list[torch.nn.Parameter]:
        """The trainable (LoRA) parameters, for the optimiser and gradient clipping."""
        return self.lm.trainable_parameters()

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The LoRA weights only (what a checkpoint needs; the base model is reloaded from disk)."""
        from peft import get_peft_model_state_dict

        return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(self.lm.model).items()}

    def load_adapter_state(self, state: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(self.lm.model, state)
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise ValueError(f"adapter state has unexpected keys, e.g. {unexpected[:3]}")

    @contextmanager
    def _mode(self, train: bool) -> Iterator[None]:
        """Temporarily set train/eval mode (LoRA dropout), restoring the previous one."""
        model = self.lm.model
        was_training = model.training
        model.train(train)
        try:
            yield
        finally:
            model.train(was_training)
