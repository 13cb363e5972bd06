"""GFlowPO: Cho et al., "GFlowPO: Generative Flow Network as a Language Model Prompt Optimizer" (2026).

Prompt search as posterior inference, p(z | D, M) ∝ p_ref(z | M) · R_task(z; D): a LoRA prompt-LM
q_theta(z | M) is trained with trajectory balance to sample instructions z in proportion to
prior^(1/gamma) · accuracy^(1/beta). One training step, in components of this package:

    M     = MetaPromptBuilder.build(rng, references)       demos from a held-out pool (+ DMU refs)
    z     = PromptPolicy.sample(M, ...)  or  ReplayBuffer.sample(...)       on-/off-policy
    acc   = evaluator (new prompts only; a replayed entry carries its accuracy)
    log R = log_reward(PromptPolicy.log_prior(M, z), acc, gamma, beta)     prior under the current M
    loss  = trajectory_balance_loss(log_z.for_batch(log q, log R), log q, log R)
    DMU   : PriorityQueue.push(best of the micro-batch); DiversePool.update(step, buffer, rng)

Modules: `config` (all knobs, presets), `schedule` (LR), `objective` (reward, TB loss, log Z),
`replay`, `dmu` (the DMU priority queue and diverse pool), and `trainer` (the method: the training
loop, which only wires these together). The policy and the meta-prompt are components shared with
the other prompt-LM methods (`optimizers/components/`).
"""

from promptflux.optimizers.components.meta_prompt import (
    MetaPrompt,
    MetaPromptBuilder,
    MetaPromptStyle,
    extract_instruction,
)
from promptflux.optimizers.components.policy import PromptPolicy, SampledPrompt
from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.dmu import DiversePool, PriorityQueue, QueueItem, draw_references
from promptflux.optimizers.gflowpo.objective import (
    LearnedLogZ,
    LogZ,
    VarGradEMA,
    log_reward,
    make_log_z,
    trajectory_balance_loss,
)
from promptflux.optimizers.gflowpo.replay import ReplayBuffer, ReplayEntry
from promptflux.optimizers.gflowpo.schedule import config_lr_lambda, lr_multiplier

__all__ = [
    "DiversePool",
    "GFlowPOConfig",
    "LearnedLogZ",
    "LogZ",
    "MetaPrompt",
    "MetaPromptBuilder",
    "MetaPromptStyle",
    "PriorityQueue",
    "PromptPolicy",
    "QueueItem",
    "ReplayBuffer",
    "ReplayEntry",
    "SampledPrompt",
    "VarGradEMA",
    "config_lr_lambda",
    "draw_references",
    "extract_instruction",
    "log_reward",
    "lr_multiplier",
    "make_log_z",
    "trajectory_balance_loss",
]
