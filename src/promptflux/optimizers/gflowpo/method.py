"""GFlowPO as a registered method: the prompt-LM gets its LoRA adapter, the target sees the base."""

from __future__ import annotations

from promptflux.optimizers.base import Method, MethodContext
from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.trainer import GFlowPOTrainer
from promptflux.optimizers.prompt_lm import prompt_lm_parts


def build(context: MethodContext, config: GFlowPOConfig) -> GFlowPOTrainer:
    return GFlowPOTrainer(config, **prompt_lm_parts(context, config.lora_settings(), config.seed))


METHOD = Method(
    name="gflowpo",
    summary="GFlowNet-trained LoRA prompt-LM with replay and Dynamic Memory Update (Cho et al. 2026)",
    config=GFlowPOConfig,
    build=build,
    uses=frozenset({"prompt_lm"}),
)
