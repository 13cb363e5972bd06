"""The embedded models for real: the signal prompt optimisation needs, and both offline models load."""

from __future__ import annotations

import math

import pytest

from promptflux.evaluation import Evaluator
from promptflux.models import load_model
from promptflux.tasks import get_task
from promptflux.types import GenRequest, SamplingParams, ScoreRequest

pytestmark = pytest.mark.slow

POOR_INSTRUCTION = "Classify the sentiment of the following movie review as negative or positive."


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2")


def test_instructions_move_sst2_accuracy_of_smollm2(smollm2):
    """MODELS.md: ~0.84 with no instruction vs ~0.5-0.6 with a plain one on 200 test examples."""
    task = get_task("sst2")
    none, poor = Evaluator(task, smollm2).evaluate(["", POOR_INSTRUCTION], task.split("test")[:200])
    print(f"SST-2 test[:200] no instruction {none.mean:.3f} {none.ci95}, poor {poor.mean:.3f} {poor.ci95}")
    assert none.mean >= 0.75
    assert poor.mean <= 0.65
    assert none.ci95[0] > poor.ci95[1]  # the intervals do not overlap: a real, usable signal


def test_smollm2_follows_a_simple_chat_instruction(smollm2):
    (gen,) = smollm2.generate([GenRequest("What is the capital of France? Answer in one word.")])
    assert "paris" in gen.text.lower()


@pytest.mark.parametrize("spec", ["gemma3-270m"])
def test_second_offline_model_loads_generates_and_scores(spec):
    lm = load_model(spec)
    (gen,) = lm.generate(
        [GenRequest("The capital of France is", SamplingParams(max_new_tokens=5), chat=False)]
    )
    assert gen.completion_tokens > 0
    (res,) = lm.score([ScoreRequest("The capital of France is", (" Paris", " banana"))])
    assert all(math.isfinite(x) for x in res.logprobs)
    assert res.logprobs[0] > res.logprobs[1] + 2.0
