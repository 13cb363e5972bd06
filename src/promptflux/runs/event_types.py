"""The event vocabulary: every kind of line `events.jsonl` holds, as one frozen dataclass each.

Writers build an event and `EventLog.record` it; readers (reports, tests) read plain JSON lines whose
`kind` is one of the `kind`s below and whose other keys are the dataclass's fields (a field marked
optional is left out while it is None). A new kind is one dataclass here.

    written by the driver      Step, Validation, Stopped, Result, BudgetMismatch
    written by any method      Eval (a prompt scored during the search), UnusableSamples
    seeding a method           SeedsPlanted (GFlowPO's `seed_prompts`: prompts from elsewhere)
    training batches           MicroBatch (GFlowPO), PPOBatch: subclasses of TrainingBatch, which
                               names the fields the report's training curve reads
    a method's step record     GPOStart, GPOStep, APEPropose, APERank, OPROStep, EvoPromptInit,
                               EvoPromptStep, ProTeGiStep
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

OPTIONAL = {"optional": True}  # field metadata: left out of the logged line while None


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """The logged fields, in declaration order (optional ones only when set)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            out[f.name] = value
        return out


# ---------------------------------------------------------------------------------------- the driver
@dataclass(frozen=True, kw_only=True)
class Step(Event):
    """One finished step: the method's own summary (flattened into the line), and the counters."""

    kind: ClassVar[str] = "step"
    step: int
    summary: dict[str, Any]
    budget: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {"step": self.step, **self.summary, "budget": self.budget}


@dataclass(frozen=True, kw_only=True)
class Validation(Event):
    """A candidate scored on the validation split. `prompt_tokens` (the length objective is on: its
    Pareto view reads it) counts the instruction and any demonstrations; `demos` (the demonstration
    search) holds the training-example ids shown with the instruction."""

    kind: ClassVar[str] = "validation"
    prompt: str
    split: str
    scores: list[float]
    accuracy: float
    prompt_tokens: int | None = field(default=None, metadata=OPTIONAL)
    demos: list[str] | None = field(default=None, metadata=OPTIONAL)
    budget: dict[str, Any]
    # Raced validation only: as in `Eval`; a dropped prompt is never the chosen one.
    of: int | None = field(default=None, metadata=OPTIONAL)
    dropped: bool | None = field(default=None, metadata=OPTIONAL)
    p_value: float | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class Stopped(Event):
    kind: ClassVar[str] = "stopped"
    reason: str
    budget: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class EarlyStop(Event):
    """The run stopped before its steps and budget: patience ran out or the target score was reached."""

    kind: ClassVar[str] = "early_stop"
    reason: str  # "patience" | "target"
    message: str
    step: int
    best_val: float | None
    best_step: int | None
    patience: int | None
    target_score: float | None
    budget: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Result(Event):
    """The run's result (what result.json holds), flattened into the line."""

    kind: ClassVar[str] = "result"
    result: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return dict(self.result)


@dataclass(frozen=True, kw_only=True)
class BudgetMismatch(Event):
    kind: ClassVar[str] = "budget_mismatch"
    role: str
    records: dict[str, Any]
    counted: dict[str, Any]


# ---------------------------------------------------------------------------------------- any method
@dataclass(frozen=True, kw_only=True)
class Eval(Event):
    """A prompt scored during the search: per-example scores, or (APE's rankings) the example count."""

    kind: ClassVar[str] = "eval"
    split: str
    prompt: str
    scores: list[float] | None = field(default=None, metadata=OPTIONAL)
    examples: int | None = field(default=None, metadata=OPTIONAL)
    accuracy: float
    # Raced scoring only (evaluation/racing.py): examples in a full score, and for a prompt dropped by
    # the race, True and the test's p-value; its `accuracy` is then the mean of its partial scores.
    of: int | None = field(default=None, metadata=OPTIONAL)
    dropped: bool | None = field(default=None, metadata=OPTIONAL)
    p_value: float | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class UnusableSamples(Event):
    """Prompt-LM samples with no usable instruction (the decoded trajectories)."""

    kind: ClassVar[str] = "unusable_samples"
    raw: list[str]


@dataclass(frozen=True, kw_only=True)
class TrainingBatch(Event):
    """A batch a method learned from. `accuracy_field` and `reward_field` name the per-prompt lists the
    report's training curves read (best training accuracy, mean reward per batch)."""

    accuracy_field: ClassVar[str] = "accuracy"
    reward_field: ClassVar[str] = "reward"


@dataclass(frozen=True, kw_only=True)
class MicroBatch(TrainingBatch):
    """GFlowPO: one micro-batch, on-policy or replayed, with every part of its reward and loss."""

    kind: ClassVar[str] = "micro_batch"
    reward_field: ClassVar[str] = "log_reward"
    step: int
    micro: int
    online: bool
    temperature: float | None
    meta_prompt: dict[str, Any]
    prompts: list[str]
    accuracy: list[float]
    replayed: list[bool]
    log_prior: list[float]
    log_reward: list[float]
    log_q: list[float] | None = field(default=None, metadata=OPTIONAL)  # after warm-up only
    log_z: float | None = field(default=None, metadata=OPTIONAL)
    loss: float | None = field(default=None, metadata=OPTIONAL)
    budget: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PPOBatch(TrainingBatch):
    """PPO: one sampled batch (unusable samples as prompt None, reward 0) and its updates."""

    kind: ClassVar[str] = "ppo_batch"
    accuracy_field: ClassVar[str] = "reward"  # the training accuracy, 0 for an unusable sample
    step: int
    meta_prompt: dict[str, Any]
    prompts: list[str | None]
    reward: list[float]
    log_q_old: list[float]
    log_prior: list[float]
    advantage: list[float]
    baseline: float | None
    epochs: list[dict[str, float]]
    budget: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class SeedsPlanted(Event):
    """Prompts from another run or a file put into the replay buffer and the DMU queue before step 0."""

    kind: ClassVar[str] = "seeds_planted"
    source: str
    prompts: list[str]
    accuracy: list[float]
    imported_answers: int  # the source run's paid answers copied into this run's ledger (free here)
    budget: dict[str, Any]


TRAINING_BATCHES: tuple[type[TrainingBatch], ...] = (MicroBatch, PPOBatch)


# ---------------------------------------------------------------------------------------- step records
@dataclass(frozen=True, kw_only=True)
class GPOStart(Event):
    kind: ClassVar[str] = "gpo_start"
    slots: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class GPOStep(Event):
    kind: ClassVar[str] = "gpo_step"
    step: int
    limit: int | None
    current: str
    shown: list[dict[str, Any]]
    summary: str | None
    reflection: str | None
    meta_prompt: str
    slots: list[dict[str, Any]]
    next: str


@dataclass(frozen=True, kw_only=True)
class APEPropose(Event):
    kind: ClassVar[str] = "ape_propose"
    round: int
    varied: list[str]
    slots: list[dict[str, Any]]
    new: list[str]


@dataclass(frozen=True, kw_only=True)
class APERank(Event):
    """A ranking step: halving (examples, scores) or UCB (arms)."""

    kind: ClassVar[str] = "ape_rank"
    round: int
    ranking: str
    index: int
    examples: int | None = field(default=None, metadata=OPTIONAL)
    scores: list[list[Any]] | None = field(default=None, metadata=OPTIONAL)
    arms: list[list[Any]] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class OPROStep(Event):
    kind: ClassVar[str] = "opro_step"
    step: int
    meta_prompt: str
    shown: list[list[Any]]
    slots: list[dict[str, Any]]
    new: list[list[Any]]


@dataclass(frozen=True, kw_only=True)
class EvoPromptInit(Event):
    kind: ClassVar[str] = "evoprompt_init"
    slots: list[dict[str, Any]]
    population: list[list[Any]]


@dataclass(frozen=True, kw_only=True)
class EvoPromptStep(Event):
    """A generation: GA (parents) or DE (best, donors, replaced)."""

    kind: ClassVar[str] = "evoprompt_step"
    step: int
    variant: str
    parents: list[list[str]] | None = field(default=None, metadata=OPTIONAL)
    best: str | None = field(default=None, metadata=OPTIONAL)
    donors: list[list[str]] | None = field(default=None, metadata=OPTIONAL)
    slots: list[dict[str, Any]]
    new: list[str]
    replaced: list[int] | None = field(default=None, metadata=OPTIONAL)
    population: list[list[Any]]


@dataclass(frozen=True, kw_only=True)
class ProTeGiStep(Event):
    kind: ClassVar[str] = "protegi_step"
    step: int
    beam: list[str]
    shown: list[dict[str, Any]]
    gradients: list[dict[str, Any]]
    edits: list[dict[str, Any]]
    paraphrases: list[dict[str, Any]]
    new: list[str]
    arms: list[list[Any]]
    next: list[str]
