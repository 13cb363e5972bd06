"""Reward and trajectory-balance objective of GFlowPO.

    log R(z) = log p_ref(z | M) / gamma + log(acc_D(z) + eps) / beta
    L(z)     = (log Z + log q_theta(z | M) - log R(z))^2,   averaged over the micro-batch

A prompt is generated token by token and each token sequence has exactly one trajectory, so trajectory
balance needs no backward policy. log Z is the only extra quantity; two estimators are offered:

- `VarGradEMA` (reference): per batch, log Z_hat = mean(log R - log q) with both terms detached (the
  VarGrad estimate, which makes the loss the batch variance of log R - log q), smoothed with an EMA.
- `LearnedLogZ`: a scalar parameter trained by the same loss, in its own optimiser parameter group.

Both keep JSON-able state for checkpoints; the learned parameter's optimiser moments live in the
optimiser's own state dict.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

from promptflux.optimizers.gflowpo.config import GFlowPOConfig


def log_reward(
    log_prior: torch.Tensor,
    accuracy: torch.Tensor | Sequence[float] | float,
    gamma: float = 1.0,
    beta: float = 1.0,
    eps: float = 1e-8,
) -> torch.Tensor:
    """log R = log_prior / gamma + log(accuracy + eps) / beta, elementwise. Shape of `log_prior`.

    The accuracy is a known number (from the evaluator or the replay buffer), so a replayed prompt
    needs only its prior recomputed under the current meta-prompt.
    """
    acc = torch.as_tensor(accuracy, dtype=log_prior.dtype, device=log_prior.device)
    if acc.numel() and (acc.min() < 0 or acc.max() > 1):
        raise ValueError(f"accuracy must lie in [0, 1], got {acc.tolist()}")
    if gamma <= 0 or beta <= 0 or eps <= 0:
        raise ValueError(f"gamma, beta and eps must be positive, got {gamma}, {beta}, {eps}")
    return log_prior / gamma + torch.log(acc + eps) / beta


def trajectory_balance_loss(
    log_z: torch.Tensor | float, log_q: torch.Tensor, log_r: torch.Tensor
) -> torch.Tensor:
    """Mean over the batch of (log Z + log q - log R)^2. log R is a target: it is detached here."""
    if log_q.shape != log_r.shape:
        raise ValueError(f"log_q {tuple(log_q.shape)} and log_r {tuple(log_r.shape)} differ in shape")
    return (log_z + log_q - log_r.detach()).pow(2).mean()


def vargrad_estimate(log_q: torch.Tensor, log_r: torch.Tensor) -> float:
    """The batch's optimal constant log Z: mean(log R - log q), as a plain number (no gradient)."""
    return (log_r.detach() - log_q.detach()).mean().item()


class LogZ(ABC):
    """The log-partition term of the TB loss.

    Call `for_batch(log_q, log_r)` once per micro-batch, before computing the loss: it updates the
    estimator's state from that batch and returns the log Z to put in the loss (a 0-d tensor).
    """

    kind: str

    @property
    @abstractmethod
    def value(self) -> float | None:
        """Current log Z; None until the first batch has been seen (when initialised from data)."""

    @abstractmethod
    def for_batch(self, log_q: torch.Tensor, log_r: torch.Tensor) -> torch.Tensor: ...

    def param_groups(self) -> list[dict[str, Any]]:
        """Extra optimiser parameter groups (none unless log Z is learned)."""
        return []

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def _check_kind(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"log Z state is of kind {state.get('kind')!r}, expected {self.kind!r}")


class VarGradEMA(LogZ):
    """EMA of the per-batch VarGrad estimate; the first batch sets it (reference behaviour).

    The EMA is updated with the current batch *before* it is used, so the first batch's loss uses its
    own estimate. The returned tensor is a constant: no gradient reaches the estimate.
    """

    kind = "vargrad_ema"

    def __init__(self, decay: float = 0.99) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self._value: float | None = None

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, estimate: float) -> float:
        if not math.isfinite(estimate):
            raise ValueError(f"log Z estimate is not finite: {estimate}")
        prev = self._value
        self._value = estimate if prev is None else self.decay * prev + (1.0 - self.decay) * estimate
        return self._value

    def for_batch(self, log_q: torch.Tensor, log_r: torch.Tensor) -> torch.Tensor:
        value = self.update(vargrad_estimate(log_q, log_r))
        return torch.tensor(value, dtype=log_q.dtype, device=log_q.device)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "decay": self.decay, "value": self._value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        self.decay = float(state["decay"])
        self._value = None if state["value"] is None else float(state["value"])


class LearnedLogZ(LogZ):
    """A scalar parameter trained by the TB loss with its own learning rate (no weight decay).

    With `init=None` it starts at the first batch's VarGrad estimate: log R is typically in the tens
    to hundreds of nats below zero, and starting at 0 would waste most of a short run walking there.
    """

    kind = "learned"

    def __init__(
        self, lr: float = 0.1, init: float | None = None, device: torch.device | str = "cpu"
    ) -> None:
        self.lr = lr
        self.param = torch.nn.Parameter(torch.tensor(0.0 if init is None else float(init), device=device))
        self._initialised = init is not None

    @property
    def value(self) -> float | None:
        return self.param.item() if self._initialised else None

    def for_batch(self, log_q: torch.Tensor, log_r: torch.Tensor) -> torch.Tensor:
        if not self._initialised:
            with torch.no_grad():
                self.param.fill_(vargrad_estimate(log_q, log_r))
            self._initialised = True
        return self.param

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": [self.param], "lr": self.lr, "weight_decay": 0.0}]

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.param.item(), "initialised": self._initialised}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_kind(state)
        with torch.no_grad():
            self.param.fill_(float(state["value"]))  # in place: the optimiser keeps its reference
        self._initialised = bool(state["initialised"])


def make_log_z(config: GFlowPOConfig, device: torch.device | str = "cpu") -> LogZ:
    """The log Z estimator a config asks for."""
    if config.log_z == "vargrad_ema":
        return VarGradEMA(config.log_z_ema_decay)
    return LearnedLogZ(config.log_z_lr, config.log_z_init, device)
