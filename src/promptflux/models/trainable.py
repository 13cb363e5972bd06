"""The trainable-model interface: what a method that trains a prompt-LM needs from a local model.

Methods depend on `TrainableLM`, never on a backend class: today the transformers backend (`hf.py`)
is the one that satisfies it (a LoRA adapter through peft, switchable off for a reference prior), and
an embedded model trains its transformers engine. Two helpers resolve a loaded model into the view a
run needs:

    trainable_engine(model)   the engine a method may add an adapter to, or None
    frozen_view(model)        the model as a target or optimiser LLM: a trained adapter switched off
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from promptflux.models.base import LanguageModel
from promptflux.models.hf import LoraSettings

__all__ = ["LoraSettings", "TrainableLM", "frozen_view", "trainable_engine"]


@runtime_checkable
class TrainableLM(Protocol):
    """A local causal LM a method may add a LoRA adapter to and train (see hf.HFLanguageModel)."""

    name: str
    model: Any  # the torch module; a peft model once an adapter is added
    tokenizer: Any
    settings: Any  # has `gen_batch_size`: prompts per generate call

    @property
    def device(self) -> Any: ...

    @property
    def rng_devices(self) -> list[int]: ...

    @property
    def has_adapter(self) -> bool: ...

    def render(self, text: str, *, chat: bool, **kwargs: Any) -> list[int]: ...

    def add_lora(self, lora: LoraSettings = ...) -> None: ...

    def adapter_disabled(self) -> AbstractContextManager[None]: ...

    def trainable_parameters(self) -> list[Any]: ...

    def sequence_log_probs(
        self, contexts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]
    ) -> Any: ...


def trainable_engine(model: LanguageModel) -> TrainableLM | None:
    """The part of `model` a method may train: the model itself, or an embedded model's scoring engine."""
    from promptflux.models.routed import RoutedLM

    if isinstance(model, RoutedLM):  # an embedded model: its transformers engine is the trainable one
        model = model.engine("score")
    return model if isinstance(model, TrainableLM) else None


def frozen_view(model: LanguageModel) -> LanguageModel:
    """`model` as a target or optimiser LLM: an adapter a method trains on it is switched off."""
    if isinstance(model, TrainableLM) and model.has_adapter:
        from promptflux.models.hf import FrozenBase

        return FrozenBase(model)  # type: ignore[arg-type]
    return model
