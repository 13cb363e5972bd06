"""promptflux: find better prompts for a language model.

Data flows one way: task -> rendered request -> LM -> score -> optimizer -> run log.

- `promptflux.models`: backends behind one `LanguageModel` interface (HF transformers, the embedded
  offline models, OpenAI-compatible HTTP). A new backend = one module + one line in
  `models/registry.py`.
- `promptflux.tasks`: examples, splits, rendering and metrics. A new task = one loader + one line in
  `tasks/registry.py`; user data goes through `tasks/custom.py` without code.
- `promptflux.evaluation`: the cached, budgeted evaluator that turns (prompts x examples) into scores.
"""

__version__ = "0.1.0"
