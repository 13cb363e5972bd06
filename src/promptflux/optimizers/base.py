"""The method contract: what a method is, and what the base class does for every method.

A method is one module: its config (a `PresetConfig`), a class that subclasses `SearchMethod` (directly,
or through a family base of `components/`: `PromptLMMethod`, `OptimizerLLMMethod`) and writes `step`,
and one line in registry.py. `fixed.py` is the smallest whole example. The base class owns what every
method would otherwise repeat:

    scored          the scored-candidate table: prompt -> score, in the order found
    candidates()    the best `config.candidates` of that table, best first (ties: the shorter prompt)
    baselines()     the config's `initial_prompt`, when it has a non-empty one
    state_dict()    the attributes named in `state`, as plain data (a Generator as its bit state), and
    load_state_dict the inverse; a method with more (tensors, its own structures) extends both
    rng / keyed()   the one RNG rule: every draw derives from `config.seed`, either from the run's stream
                    `self.rng` (checkpointed when listed in `state`) or from `self.keyed(*key)`, a
                    generator fixed by the key (a redone step draws what it drew before)
    emit(event)     a typed event (runs.event_types) into the run's event log
    from_context()  how a run builds it: `cls(config, **cls.parts(context, config))`

The run driver (recipe/driver.py) needs only the `StepMethod` protocol.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import Event
from promptflux.runs.events import EventLog

if TYPE_CHECKING:
    from promptflux.optimizers.context import MethodContext


class StepMethod(Protocol):
    """What the run driver needs from a method: steps, candidates, and a checkpointable state."""

    name: str

    @property
    def total_steps(self) -> int: ...

    def step(self, step: int) -> dict[str, Any]: ...

    def candidates(self) -> list[str]: ...

    def baselines(self) -> dict[str, str]:
        """Named reference prompts scored on the test split beside the chosen one (e.g. the initial one)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def keyed_rng(seed: int, *key: int | str) -> np.random.Generator:
    """A generator fixed by (seed, key): draws never depend on what was drawn before or on resumes."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key]
    return np.random.default_rng([seed, *words])


def pick(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """`min(k, n)` distinct indices of range(n), in the order drawn."""
    return [int(i) for i in rng.choice(n, size=min(k, n), replace=False)]


def best_first(scores: Mapping[str, float], prompts: Iterable[str] | None = None) -> list[str]:
    """`prompts` (default: every scored one) by score, the shorter prompt first among ties."""
    return sorted(scores if prompts is None else prompts, key=lambda p: (-scores[p], len(p)))


class SearchMethod:
    """Base of every method: see the module docstring for what it owns."""

    name: ClassVar[str]  # the registry name, e.g. "opro"
    summary: ClassVar[str]  # one line for `promptflux methods`
    Config: ClassVar[type[PresetConfig]]
    uses: ClassVar[frozenset[str]] = frozenset()  # "prompt_lm" and/or "optimizer_model"
    state: ClassVar[tuple[str, ...]] = ()  # attributes checkpointed by name

    def __init__(self, config: Any, events: EventLog | None = None) -> None:
        self.config = config
        self.events = events
        self.scored: dict[str, float] = {}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_context(cls, context: MethodContext, config: Any) -> SearchMethod:
        return cls(config, **cls.parts(context, config))

    @classmethod
    def parts(cls, context: MethodContext, config: Any) -> dict[str, Any]:
        """The constructor's keyword arguments from the run's shared parts (models, task, budget, log)."""
        return {"events": context.events}

    # ------------------------------------------------------------------ the driver's contract
    @property
    def total_steps(self) -> int:
        return self.config.steps

    def step(self, step: int) -> dict[str, Any]:
        raise NotImplementedError

    def candidates(self) -> list[str]:
        return best_first(self.scored)[: self.config.candidates]

    def baselines(self) -> dict[str, str]:
        initial = getattr(self.config, "initial_prompt", "")
        return {"initial prompt": initial} if initial.strip() else {}

    def state_dict(self) -> dict[str, Any]:
        return {key: _plain(getattr(self, key)) for key in self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in self.state:
            current, saved = getattr(self, key), state[key]
            if isinstance(current, np.random.Generator):
                current.bit_generator.state = saved
            elif isinstance(current, dict):
                setattr(self, key, dict(saved))  # a list of pairs (older checkpoints) or a mapping
            elif isinstance(current, list):
                setattr(self, key, list(saved))
            else:
                setattr(self, key, saved)

    # ------------------------------------------------------------------ seeding and events
    def keyed(self, *key: int | str) -> np.random.Generator:
        return keyed_rng(self.config.seed, *key)

    def emit(self, event: Event) -> None:
        if self.events is not None:
            self.events.record(event)


def _plain(value: Any) -> Any:
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if isinstance(value, (dict, list)):
        return type(value)(value)
    return value


@dataclass(frozen=True)
class Method:
    """A registered method, as the CLI and the run recipe see it."""

    name: str
    summary: str
    config: type[PresetConfig]
    cls: type[SearchMethod]
    uses: frozenset[str]

    @classmethod
    def of(cls, method: type[SearchMethod]) -> Method:
        return cls(method.name, method.summary, method.Config, method, method.uses)

    def build(self, context: MethodContext, config: Any) -> SearchMethod:
        return self.cls.from_context(context, config)
