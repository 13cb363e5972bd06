"""What every method is built from: the loaded models, the task, the budget and the run's event log.

`SearchMethod.from_context(context, config)` builds a method from a `MethodContext`. Methods never load
models or open caches themselves: the context does it once, so a target shared with a prompt-LM or an
optimiser LLM is one set of weights, and every call goes through the same cache, ledger and budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from promptflux.errors import ConfigError
from promptflux.evaluation.budget import Budget
from promptflux.evaluation.cache import OutputCache
from promptflux.evaluation.calls import Output, Request, call_model
from promptflux.evaluation.evaluator import Evaluator
from promptflux.models.base import LanguageModel
from promptflux.models.registry import ModelOptions, load_model, reaches_server
from promptflux.models.trainable import TrainableLM, frozen_view, trainable_engine
from promptflux.runs.event_types import Event
from promptflux.runs.events import EventLog
from promptflux.tasks.base import Task
from promptflux.types import Role


class ModelPool:
    """Loads each model spec once per run; the target view of an adapted model is its frozen base.

    `roles` gives a role ("target", "optimizer") its own options: its own server URL and key for a
    spec that reaches a server, so `openai:m` as target on one server and as optimiser on another is
    two models. A local spec is one model whatever the role, so a target shared with the prompt-LM
    stays one set of weights.
    """

    def __init__(self, options: ModelOptions, roles: Mapping[str, ModelOptions] | None = None) -> None:
        self.options = options
        self.roles = dict(roles or {})
        self._models: dict[str, LanguageModel] = {}

    def get(self, spec: str, role: str | None = None) -> LanguageModel:
        options = self.roles.get(role, self.options) if role and reaches_server(spec) else self.options
        endpoint = (options.base_url, options.api_key_env)
        shared = endpoint == (self.options.base_url, self.options.api_key_env)
        key = spec if shared else f"{spec}|{endpoint[0]}|{endpoint[1]}"  # a role's own server
        if key not in self._models:
            self._models[key] = load_model(spec, options)
        return self._models[key]

    def trainable(self, spec: str) -> TrainableLM:
        """A local model a method may add a LoRA adapter to (its target view stays the base)."""
        model = trainable_engine(self.get(spec))
        if model is None:
            raise ConfigError(
                f"the prompt-LM must be a local trainable model (qwen2.5-coder-0.5b, smollm2, hf:<folder>), "
                f"not {spec!r}"
            )
        return model

    def frozen(self, spec: str, role: str | None = None) -> LanguageModel:
        """The model as a target or optimiser LLM: an adapter a method trains on it is switched off."""
        return frozen_view(self.get(spec, role))

    def close(self) -> None:
        for model in self._models.values():
            model.close()


@dataclass
class MethodContext:
    """The run's shared parts, handed to a method's `from_context`."""

    task: Task
    models: ModelPool
    budget: Budget
    events: EventLog
    cache: OutputCache  # shared across runs
    ledger: OutputCache  # what this run paid for
    target_spec: str
    prompt_lm_spec: str | None = None
    optimizer_spec: str | None = None
    val_split: str = "dev"
    train_split: str = "train"

    @property
    def target(self) -> LanguageModel:
        return self.models.frozen(self.target_spec, Role.TARGET)

    def evaluator(self, role: Role = Role.TARGET) -> Evaluator:
        """Scores prompts on the target, charged to `role` (search: target; validation: selection)."""
        return Evaluator(
            self.task, self.target, cache=self.cache, ledger=self.ledger, budget=self.budget, role=role
        )

    def prompt_lm(self) -> TrainableLM:
        return self.models.trainable(self._required(self.prompt_lm_spec, "--prompt-lm"))

    def optimizer_llm(self) -> LanguageModel:
        return self.models.frozen(self._required(self.optimizer_spec, "--optimizer-model"), Role.OPTIMIZER)

    def ask(self, requests: Sequence[Request], role: Role = Role.OPTIMIZER) -> list[Output]:
        """Optimiser-LLM calls through the cache, ledger and budget, like target calls.

        Sampled requests carry a `sample_id`, so a resumed run gets its earlier answers back from the
        ledger instead of paying for (and diverging on) new samples.
        """
        return call_model(
            self.optimizer_llm(),
            requests,
            cache=self.cache,
            ledger=self.ledger,
            budget=self.budget,
            role=role,
        )

    def emit(self, event: Event) -> None:
        self.events.record(event)

    @staticmethod
    def _required(spec: str | None, flag: str) -> str:
        if not spec:
            raise ConfigError(f"this method needs a model for {flag}")
        return spec
