"""The model spec of each role when none is given (no heavy imports: the CLI reads these at start).

Chosen by measurement on a 2-core CPU (README, "Models"; benchmarks/RESULTS.md): Qwen2.5-Coder-0.5B-
Instruct as target and prompt-LM (it follows instructions, so the instruction decides the score), and
the 1.5B as the optimiser LLM, which writes usable instructions where the 135M model echoed its
meta-prompt. SmolLM2 and tiny-random stay for tests and smoke runs.
"""

DEFAULT_TARGET = "qwen2.5-coder-0.5b"
DEFAULT_PROMPT_LM = "qwen2.5-coder-0.5b"
DEFAULT_OPTIMIZER = "qwen2.5-coder-1.5b"
