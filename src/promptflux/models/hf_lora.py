"""The trainable side of the transformers backend: a LoRA adapter, its gradients, its frozen base.

GFlowPO and PPO train a prompt-LM with LoRA while the same weights may also serve, adapter off, as the
target or the reference prior. What that needs — adding the adapter (peft), switching it off for a
block, differentiable sequence log-probs of sampled tokens, and a fingerprint that changes as the
adapter trains — lives here, apart from inference (`hf.py`), which never needs gradients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from promptflux.errors import ConfigError
from promptflux.models.base import LanguageModel
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult

if TYPE_CHECKING:
    from promptflux.models.hf import HFLanguageModel


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter for the trainable mode (GFlowPO, PPO prompt-LM).

    Defaults are the GFlowPO reference's: r 16, alpha 32, dropout 0.05, and peft's default targets for
    Llama-style models (query and value projections), which is what the reference ends up using.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


class LoraTrainable:
    """Mixed into HFLanguageModel: needs `model`, `tokenizer`, `device`, `name` and `quantized`."""

    _lora = False
    _adapter_enabled = False

    def add_lora(self, lora: LoraSettings = LoraSettings()) -> None:
        """Wrap the model with a trainable LoRA adapter (peft). Base weights stay frozen."""
        from peft import LoraConfig, get_peft_model

        if self._lora:
            raise ConfigError(f"{self.name} already has a LoRA adapter")
        if self.quantized:
            raise ConfigError(f"{self.name} is int8-quantised and cannot train a LoRA adapter; use float32")
        config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        )
        self.model = get_peft_model(self.model, config)
        self._lora = True
        self._adapter_enabled = True

    def adapter_digest(self) -> str:
        """Hash of the LoRA weights: a trained adapter is a different model for caching purposes."""
        h = hashlib.sha256()
        for name, p in sorted(self.model.named_parameters()):
            if "lora_" in name:
                h.update(name.encode())
                h.update(p.detach().float().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    @property
    def has_adapter(self) -> bool:
        return self._lora

    @contextmanager
    def adapter_disabled(self) -> Iterator[None]:
        """The reference prior p_ref: the same weights with the adapter switched off."""
        if not self._lora:
            yield
            return
        self._adapter_enabled = False
        try:
            with self.model.disable_adapter():
                yield
        finally:
            self._adapter_enabled = True

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def sequence_log_probs(
        self, contexts: Sequence[list[int]], continuations: Sequence[list[int]]
    ) -> torch.Tensor:
        """Summed log-probabilities of each continuation given its context, differentiable. Shape (B,).

        Takes token ids (from `render` and the sampled tokens) so a policy's own samples are scored
        exactly as they were generated, with no re-tokenisation drift.
        """
        seqs = [list(c) + list(z) for c, z in zip(contexts, continuations)]
        B, T = len(seqs), max(map(len, seqs))
        K = max(len(z) for z in continuations) + 1  # the logits that predict continuation tokens
        pad = self.tokenizer.pad_token_id
        # Left padding aligns every continuation with the end of its row, so the vocabulary head runs on
        # the last K positions only (memory grows with the continuation, not with the meta-prompt).
        ids = torch.full((B, T), pad, dtype=torch.long, device=self.device)
        mask = torch.zeros((B, T), dtype=torch.long, device=self.device)
        target_mask = torch.zeros((B, K - 1), dtype=torch.bool, device=self.device)
        for b, (z, s) in enumerate(zip(continuations, seqs)):
            ids[b, T - len(s) :] = torch.tensor(s, device=self.device)
            mask[b, T - len(s) :] = 1
            target_mask[b, K - 1 - len(z) :] = True
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=K
        ).logits
        logits = logits[:, :-1].float()  # (B, K-1, V): position i predicts token T-K+1+i
        targets = ids[:, T - K + 1 :]  # (B, K-1)
        token_lp = torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
        return (token_lp * target_mask).sum(-1)


class FrozenBase(LanguageModel):
    """The base weights of an adapted model, as a frozen model of its own.

    Lets the target (or the reference prior) share weights with a LoRA prompt-LM: every call runs with
    the adapter switched off, and the fingerprint is the base model's, so cached answers stay valid
    while the adapter trains.
    """

    def __init__(self, lm: HFLanguageModel) -> None:
        super().__init__()
        self.lm = lm
        self.name = lm.name

    def fingerprint(self) -> str:
        with self.lm.adapter_disabled():
            return self.lm.fingerprint()

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        with self.lm.adapter_disabled():
            return self.lm._generate(requests)

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        with self.lm.adapter_disabled():
            return self.lm._score(requests)
