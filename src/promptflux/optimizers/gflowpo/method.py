"""GFlowPO as a registered method: the prompt-LM gets its LoRA adapter, the target sees the base."""

from __future__ import annotations

from promptflux.optimizers.base import Method, MethodContext
from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.policy import PromptPolicy
from promptflux.optimizers.gflowpo.trainer import GFlowPOTrainer


def build(context: MethodContext, config: GFlowPOConfig) -> GFlowPOTrainer:
    # The adapter is added before the target is resolved, so a target with the prompt-LM's spec is
    # the frozen base of the same weights (one model in memory, cache keys of the plain model).
    policy = PromptPolicy(context.prompt_lm(), config.lora_settings(), init_seed=config.seed)
    return GFlowPOTrainer(
        config,
        policy,
        context.evaluator(),
        train=context.task.split(context.train_split),
        demo_pool=context.task.split(context.val_split),
        budget=context.budget,
        events=context.events,
    )


METHOD = Method(
    name="gflowpo",
    summary="GFlowNet-trained LoRA prompt-LM with replay and Dynamic Memory Update (Cho et al. 2026)",
    config=GFlowPOConfig,
    build=build,
    uses=frozenset({"prompt_lm"}),
)
