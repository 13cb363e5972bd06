"""GFlowPOConfig: reference defaults, presets, validation with readable errors, step helpers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promptflux.errors import ConfigError
from promptflux.models.hf import LoraSettings
from promptflux.optimizers.gflowpo.config import GFlowPOConfig


def test_defaults_are_the_reference_hyper_parameters():
    c = GFlowPOConfig()
    assert (c.lora_r, c.lora_alpha, c.lora_dropout) == (16, 32, 0.05)
    assert (c.lr, c.max_grad_norm, c.micro_batch_size, c.grad_accumulation) == (1e-4, 1.0, 4, 4)
    assert (c.steps, c.warmup_steps, c.training_steps, c.prompts_per_step) == (200, 99, 101, 16)
    assert (c.gamma, c.beta, c.eps, c.log_z, c.log_z_ema_decay) == (1.0, None, 1e-8, "vargrad_ema", 0.99)
    assert (c.online_ratio, c.temperature_range, c.top_p, c.max_new_tokens) == (0.5, (0.5, 2.0), 0.9, 150)
    assert (c.replay_capacity, c.replay_sampling) == (1000, "uniform")
    assert (c.dmu_queue_size, c.dmu_from_queue, c.dmu_from_diverse, c.num_demos) == (5, 1, 2, 5)
    assert c.dmu_diverse_refresh == "live"
    assert c.lr_schedule == "warmup_cosine"


def test_config_is_frozen_and_rejects_unknown_keys():
    c = GFlowPOConfig()
    with pytest.raises(ValidationError):
        c.lr = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        GFlowPOConfig(learning_rate=1e-3)  # type: ignore[call-arg]


def test_reference_preset_freezes_the_diverse_pool_and_ranks_replay_by_accuracy():
    ref = GFlowPOConfig.reference()
    assert ref.dmu_diverse_refresh == "frozen"
    assert ref.replay_rank_by == "accuracy"
    assert ref.dmu_start_delay == 11
    assert ref.lr_schedule == "warmup_cosine"  # the reference's never-decaying schedule is not reproduced


def test_quick_preset_is_a_small_budget_with_the_same_method_knobs():
    q, ref = GFlowPOConfig.quick(), GFlowPOConfig()
    assert q.warmup_steps <= 5 and 5 <= q.training_steps <= 20
    assert (q.micro_batch_size, q.grad_accumulation, q.max_new_tokens) == (4, 1, 48)
    assert (q.lr, q.gamma, q.beta, q.log_z) == (ref.lr, ref.gamma, ref.beta, ref.log_z)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"online_ratio": 1.5}, "online_ratio"),
        ({"temperature_range": (2.0, 0.5)}, "temperature_range"),
        ({"temperature_range": (0.0, 1.0)}, "temperature_range"),
        ({"warmup_steps": 200}, "warmup_steps"),
        ({"dmu_from_queue": 6}, "dmu_from_queue"),
        ({"top_p": 0.0}, "top_p"),
        ({"beta": -1.0}, "beta"),
        ({"dmu_diverse_pool_size": 1}, "dmu_diverse_pool_size"),
    ],
)
def test_bad_values_fail_with_the_field_named(overrides, message):
    with pytest.raises(ValidationError, match=message):
        GFlowPOConfig(**overrides)


def test_from_preset_applies_overrides_and_reports_config_errors():
    c = GFlowPOConfig.from_preset("quick", lr=3e-4)
    assert c.lr == 3e-4 and c.steps == GFlowPOConfig.quick().steps
    with pytest.raises(ConfigError, match=r"online_ratio.*1\.5"):
        GFlowPOConfig.from_preset("default", online_ratio=1.5)
    with pytest.raises(ConfigError, match="unknown key"):
        GFlowPOConfig.from_preset("default", ratio=0.5)
    with pytest.raises(ConfigError, match="unknown GFlowPO preset"):
        GFlowPOConfig.from_preset("paper")


def test_json_round_trip():
    c = GFlowPOConfig.reference()
    assert GFlowPOConfig.model_validate_json(c.model_dump_json()) == c


def test_step_helpers_match_the_reference_schedule():
    c = GFlowPOConfig.reference()  # warm-up = steps 0..98, training from 99, DMU from 99 + 11
    assert c.is_warmup(98) and not c.is_warmup(99)
    assert not c.dmu_active(109) and c.dmu_active(110)
    assert not GFlowPOConfig(dmu=False).dmu_active(150)


def test_beta_defaults_to_one_over_the_training_size():
    assert GFlowPOConfig().resolve_beta(32) == 1 / 32
    assert GFlowPOConfig(beta=0.5).resolve_beta(32) == 0.5
    with pytest.raises(ConfigError):
        GFlowPOConfig().resolve_beta(0)


def test_lora_settings_and_lr_warmup_length():
    c = GFlowPOConfig(lora_target_modules=("q_proj",))
    assert c.lora_settings() == LoraSettings(r=16, alpha=32, dropout=0.05, target_modules=("q_proj",))
    assert GFlowPOConfig().lr_warmup_updates == 11  # ceil(0.1 * 101)
    assert GFlowPOConfig(lr_warmup_fraction=0.0).lr_warmup_updates == 0
    assert GFlowPOConfig.quick().lr_warmup_updates == 1  # ceil(0.1 * 9)
