"""GPO: Tang et al., "Unleashing the Potential of Large Language Models as Prompt Optimizers: An
Analogical Analysis with Gradient-based Model Optimizers" (AAAI 2025).

An optimiser LLM plays gradient descent on a prompt: it is shown relevant past prompts with their scores
(momentum) and asked for a better prompt (the update) that changes at most N words (the learning rate,
decaying on a cosine schedule). One step, in components of this package:

    limit      = edit_limit(t, T, config)                        T = config.total_steps(n_train)
    shown      = retrieve(config.retrieval, trajectory, config.k, embedder=Embedder(...))
    message    = refinement_prompt(config.refinement, shown, trajectory.current.prompt, examples, limit)
    candidate  = parse_prompt(reply, config.max_prompt_words)     retry with retry_note(...) on failure
                 word_edit_distance(current, candidate) <= limit   retry with retry_note("over_limit")
    next       = best-scoring new candidate not in trajectory.chosen; trajectory.append(entry)

Modules: `config` (all knobs, presets), `schedule` (edit limit), `edits`, `trajectory`, `retrieval`
(+ the sentence embedder), `meta_prompt`; reply parsing and the ask/parse/retry loop are shared with the
other LLM-optimiser methods (`components/parsing.py`, `components/proposals.py`). The method
(`method`: the optimisation loop) only wires these together.
"""

from promptflux.optimizers.components.parsing import Parsed, parse_prompt
from promptflux.optimizers.gpo.config import GPOConfig
from promptflux.optimizers.gpo.edits import within_limit, word_edit_distance
from promptflux.optimizers.gpo.meta_prompt import (
    DEFAULT_PLACEMENT_NOTE,
    format_score,
    refinement_prompt,
    reflection_prompt,
    retry_note,
    summarization_prompt,
)
from promptflux.optimizers.gpo.retrieval import (
    Embedder,
    SupportsEmbed,
    cosine_similarities,
    resolve_embedding_model,
    retrieve,
)
from promptflux.optimizers.gpo.schedule import edit_limit
from promptflux.optimizers.gpo.trajectory import Trajectory, TrajectoryEntry

__all__ = [
    "DEFAULT_PLACEMENT_NOTE",
    "Embedder",
    "GPOConfig",
    "Parsed",
    "SupportsEmbed",
    "Trajectory",
    "TrajectoryEntry",
    "cosine_similarities",
    "edit_limit",
    "format_score",
    "parse_prompt",
    "refinement_prompt",
    "reflection_prompt",
    "resolve_embedding_model",
    "retrieve",
    "retry_note",
    "summarization_prompt",
    "within_limit",
    "word_edit_distance",
]
