"""RoutedLM: each request kind goes to its engine, engines load on first use, adapters stay off."""

from __future__ import annotations

import math

import torch

from promptflux.models.hf import LoraSettings
from promptflux.models.registry import ModelOptions
from promptflux.models.routed import RoutedLM
from promptflux.models.tiny import tiny_random_model
from promptflux.optimizers.context import ModelPool
from promptflux.types import GenRequest, SamplingParams, ScoreRequest

REQUEST = ScoreRequest("Classify. Input : fine Output:", (" negative", " positive"))


def routed(built: list[str]) -> RoutedLM:
    def engine(seed: int, kind: str):
        built.append(kind)
        return tiny_random_model(seed=seed)

    return RoutedLM(
        "two-engines",
        generator=lambda: engine(1, "generate"),
        scorer=lambda: engine(2, "score"),
        generator_label="gen-engine",
        scorer_label="score-engine",
    )


def test_each_kind_runs_on_its_own_engine_loaded_once_on_first_use():
    built: list[str] = []
    lm = routed(built)
    assert built == [] and lm.fingerprint() == "two-engines|generate:gen-engine|score:score-engine"
    lm.generate([GenRequest("hi", SamplingParams(max_new_tokens=3))])
    lm.generate([GenRequest("hello", SamplingParams(max_new_tokens=3))])
    assert built == ["generate"]
    (score,) = lm.score([REQUEST])
    assert built == ["generate", "score"]
    assert score == tiny_random_model(seed=2).score([REQUEST])[0]  # the scorer's answer, not the generator's
    assert lm.usage.calls == 3


def test_the_pool_trains_the_scoring_engine_and_the_routed_view_scores_with_the_adapter_off():
    pool = ModelPool(ModelOptions())
    built: list[str] = []
    pool._models["spec"] = routed(built)
    trainable = pool.trainable("spec")
    before = trainable.score([REQUEST])[0]
    trainable.add_lora(LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for p in trainable.trainable_parameters():
            p.add_(0.5)
    assert trainable.score([REQUEST])[0] != before
    (through_view,) = pool.frozen("spec").score([REQUEST])
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(through_view.logprobs, before.logprobs))
    assert trainable.has_adapter  # switched back on after the frozen view's call
