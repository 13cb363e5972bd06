"""Prompt optimizers. Each method lives in its own subpackage whose docstring names its paper.

- `gflowpo`: GFlowPO (Cho et al. 2026) — a LoRA prompt-LM trained with trajectory balance to sample
  prompts in proportion to prior x tempered accuracy, with a training-free meta-prompt update (DMU).
"""
