"""Every GFlowPO knob in one frozen, validated object, with the reference configuration as a preset.

Step vocabulary (0-based `step`, used by every helper below):

    steps 0 .. warmup_steps-1           warm-up: sample with the untrained policy, score, fill the replay
                                        buffer; no gradient updates, no DMU references
    steps warmup_steps .. steps-1       training: one optimiser update per step, built from
                                        `grad_accumulation` micro-batches of `micro_batch_size` prompts

Each step (warm-up included) therefore draws `prompts_per_step` prompts. The reference run has 200 steps
of which 99 are warm-up (its loop counts 1..200 and trains from step 100), i.e. 101 updates.

Unknown keys are errors; `from_preset` (see presets.py) turns validation failures into a one-line
`ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from promptflux.errors import ConfigError
from promptflux.optimizers.components.prompt_lm import LoraFields
from promptflux.optimizers.components.racing import RacingFields
from promptflux.optimizers.presets import PresetConfig

LogZMode = Literal["vargrad_ema", "learned"]
OnlineSchedule = Literal["coin", "paced"]
LRSchedule = Literal["warmup_cosine", "warmup_linear", "constant"]
ReplayRank = Literal["log_reward", "accuracy"]
ReplaySampling = Literal["uniform", "rank", "softmax"]
DiverseRefresh = Literal["live", "frozen"]
DiverseSelection = Literal["uniform", "maxmin_jaccard"]


class GFlowPOConfig(LoraFields, RacingFields):
    """GFlowPO hyper-parameters. Defaults follow GFLOWPO.md; see `reference()` for the paper's exact run."""

    label: ClassVar[str] = "GFlowPO"

    # ---------------------------------------------------------------- budget and phases
    steps: int = Field(200, ge=1, description="Total steps, warm-up included.")
    warmup_steps: int = Field(
        99, ge=0, description="Leading steps that only fill the replay buffer (no updates, no DMU)."
    )
    micro_batch_size: int = Field(4, ge=1, description="Prompts per micro-batch (one TB loss term).")
    grad_accumulation: int = Field(4, ge=1, description="Micro-batches per optimiser update.")

    # ---------------------------------------------------------------- prompt-LM adapter
    # lora_r, lora_alpha, lora_dropout, lora_target_modules and lora_settings(): see LoraFields.

    # ---------------------------------------------------------------- optimiser and LR schedule
    optimizer: Literal["adamw"] = Field("adamw", description="Only AdamW, as in the reference.")
    lr: float = Field(1e-4, gt=0.0, description="Peak learning rate of the LoRA parameters.")
    weight_decay: float = Field(
        0.01, ge=0.0, description="AdamW weight decay (torch's default, which the reference inherits)."
    )
    max_grad_norm: float = Field(1.0, gt=0.0, description="Global gradient-norm clip per update.")
    lr_schedule: LRSchedule = Field(
        "warmup_cosine",
        description="Linear warm-up, then cosine / linear decay (or constant) over the training updates.",
    )
    lr_warmup_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Fraction of the training updates spent ramping the LR up."
    )
    lr_min_ratio: float = Field(0.0, ge=0.0, le=1.0, description="LR at the end, as a fraction of `lr`.")

    # ---------------------------------------------------------------- reward
    gamma: float = Field(1.0, gt=0.0, description="Prior temperature: log R = log p_ref / gamma + ...")
    beta: float | None = Field(
        None, gt=0.0, description="Accuracy temperature: ... + log(acc + eps) / beta. None = 1/|D_train|."
    )
    eps: float = Field(1e-8, gt=0.0, description="Keeps log(accuracy) finite at accuracy 0.")

    # ---------------------------------------------------------------- log Z
    log_z: LogZMode = Field(
        "vargrad_ema",
        description="vargrad_ema: per-batch mean(log R - log q), EMA-smoothed (reference); "
        "learned: a scalar parameter with its own learning rate.",
    )
    log_z_ema_decay: float = Field(
        0.99, ge=0.0, lt=1.0, description="EMA weight of the old value (vargrad_ema)."
    )
    log_z_lr: float = Field(0.1, gt=0.0, description="Learning rate of the learned log Z.")
    log_z_init: float | None = Field(
        None, description="Initial learned log Z; None = the first batch's VarGrad estimate."
    )

    # ---------------------------------------------------------------- sampling
    online_ratio: float = Field(
        0.5, ge=0.0, le=1.0, description="Probability that a training micro-batch is sampled on-policy."
    )
    online_schedule: OnlineSchedule = Field(
        "coin",
        description="coin: each training micro-batch is on-policy with probability online_ratio "
        "(reference); paced: on-policy whenever the target calls spent fall behind an even share of "
        "the target-call budget (limit x micro-batches so far / all micro-batches) and the rest of the "
        "budget pays for the whole batch, so a short run spends its budget, spreads its fresh batches "
        "and finishes its steps. Without a target-call limit, paced is coin.",
    )
    temperature_range: tuple[float, float] = Field(
        (0.5, 2.0), description="On-policy temperature is drawn uniformly from this range per micro-batch."
    )
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="Nucleus sampling mass (top-k is disabled).")
    max_new_tokens: int = Field(150, ge=1, description="Longest sampled instruction, in prompt-LM tokens.")

    # ---------------------------------------------------------------- replay buffer
    replay_capacity: int = Field(1000, ge=1, description="Replay buffer size (best entries are kept).")
    replay_rank_by: ReplayRank = Field(
        "log_reward",
        description="What 'best' means for eviction. The reference code ranks by accuracy; log_reward "
        "also weighs the prior, which was computed under the meta-prompt of the insertion step.",
    )
    replay_sampling: ReplaySampling = Field(
        "uniform", description="uniform (reference), rank (p ~ 1/rank) or softmax (p ~ exp(log R / T))."
    )
    replay_softmax_temperature: float = Field(
        1.0, gt=0.0, description="Temperature T of the softmax replay sampling."
    )

    # ---------------------------------------------------------------- meta-prompt and DMU
    dmu: bool = Field(
        True, description="Dynamic Memory Update: add reference instructions to the meta-prompt."
    )
    dmu_start_delay: int = Field(
        10, ge=0, description="Training steps without references before DMU starts (reference: 11)."
    )
    dmu_queue_size: int = Field(5, ge=1, description="Size of the priority queue Q (top by accuracy).")
    dmu_from_queue: int = Field(1, ge=0, description="References drawn from Q per micro-batch.")
    dmu_from_diverse: int = Field(
        2, ge=0, description="References drawn from the diverse pool per micro-batch."
    )
    dmu_diverse_refresh: DiverseRefresh = Field(
        "live",
        description="live: rebuild the diverse pool from the replay buffer every dmu_refresh_every steps; "
        "frozen: copy the buffer once when training starts (reference).",
    )
    dmu_refresh_every: int = Field(10, ge=1, description="Steps between live diverse-pool rebuilds.")
    dmu_diverse_pool_size: int | None = Field(
        None, ge=1, description="Entries kept in the diverse pool; None = the whole buffer."
    )
    dmu_diverse_selection: DiverseSelection = Field(
        "uniform",
        description="How a sized pool is chosen from the buffer: uniform, or greedy max-min word-Jaccard.",
    )

    # ---------------------------------------------------------------- prompts from elsewhere
    seed_prompts: str | None = Field(
        None,
        description="A run folder (its scored and validated prompts, best first) or a text file (one "
        "prompt per line) whose prompts start the replay buffer and the DMU queue. They are scored on this "
        "run's training split; answers the source run paid for are free here (its spend, not this run's).",
    )
    seed_limit: int = Field(16, ge=1, description="Most seed prompts taken from `seed_prompts`.")

    seed: int = Field(0, description="Seeds every RNG of the run (numpy Generators and torch sampling).")

    # ---------------------------------------------------------------- validation
    @model_validator(mode="after")
    def _consistent(self) -> GFlowPOConfig:
        if self.warmup_steps >= self.steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps}), "
                "or no training step is left"
            )
        low, high = self.temperature_range
        if not 0.0 < low <= high:
            raise ValueError(f"temperature_range must satisfy 0 < low <= high, got {self.temperature_range}")
        if self.dmu_from_queue > self.dmu_queue_size:
            raise ValueError(
                f"dmu_from_queue ({self.dmu_from_queue}) exceeds dmu_queue_size ({self.dmu_queue_size})"
            )
        if self.dmu_diverse_pool_size is not None and self.dmu_diverse_pool_size < self.dmu_from_diverse:
            raise ValueError(
                f"dmu_diverse_pool_size ({self.dmu_diverse_pool_size}) is smaller than "
                f"dmu_from_diverse ({self.dmu_from_diverse})"
            )
        return self

    # ---------------------------------------------------------------- derived values
    @property
    def training_steps(self) -> int:
        """Steps with an optimiser update (= number of updates the LR schedule spans)."""
        return self.steps - self.warmup_steps

    @property
    def prompts_per_step(self) -> int:
        return self.micro_batch_size * self.grad_accumulation

    @property
    def lr_warmup_updates(self) -> int:
        """LR warm-up length in updates: at least one when a warm-up fraction is set."""
        if self.lr_warmup_fraction == 0.0:
            return 0
        return max(1, math.ceil(self.lr_warmup_fraction * self.training_steps))

    def is_warmup(self, step: int) -> bool:
        return step < self.warmup_steps

    def dmu_active(self, step: int) -> bool:
        """Whether micro-batches of `step` carry reference instructions."""
        return self.dmu and step >= self.warmup_steps + self.dmu_start_delay

    def resolve_beta(self, n_train: int) -> float:
        """beta, with the default 1/|D_train| (so R = p_ref^(1/gamma) * acc^|D_train|)."""
        if self.beta is not None:
            return self.beta
        if n_train < 1:
            raise ConfigError(f"beta defaults to 1/|D_train|, but the training split is empty ({n_train})")
        return 1.0 / n_train

    # ---------------------------------------------------------------- presets
    @classmethod
    def reference(cls) -> GFlowPOConfig:
        """The paper's classification run as its public code configures it.

        Deliberate differences from that code, kept here because they are fixes rather than choices:
        the LR schedule warms up and then decays over the training updates (the reference scheduler is
        sized for 800 steps but stepped ~100 times, so it only ramps up); replayed prompts keep their
        known accuracy (the reference re-scores them on the target LM); the buffer holds no duplicates.
        """
        return cls(
            replay_rank_by="accuracy",
            dmu_start_delay=11,  # the code adds references from step offline_start + 11 on
            dmu_diverse_refresh="frozen",
        )

    @classmethod
    def quick(cls) -> GFlowPOConfig:
        """A smoke-sized budget for a CPU run of a few minutes: 3 warm-up + 9 training steps of 4 prompts.

        Only budget knobs shrink; the method's hyper-parameters (lr, gamma, beta, log Z) stay as in the
        reference, so a quick run exercises the same code paths but is not expected to learn much.
        """
        return cls(
            steps=12,
            warmup_steps=3,
            grad_accumulation=1,
            max_new_tokens=48,
            replay_capacity=200,
            dmu_start_delay=2,
            dmu_refresh_every=2,
        )

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        return {"default": cls, "reference": cls.reference, "quick": cls.quick}
