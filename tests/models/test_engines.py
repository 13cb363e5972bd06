"""Engines against each other on real models: batched llama.cpp against one sequence at a time, and
every target engine against the exact fp32 reference, within the tolerances the README states."""

from __future__ import annotations

import pytest

from promptflux.evaluation import Evaluator, OutputCache
from promptflux.models.embedded import EMBEDDED
from promptflux.models.llamacpp import LlamaCppEngine, LlamaCppSettings
from promptflux.tasks import get_task
from promptflux.types import GenRequest, SamplingParams, ScoreRequest

QWEN = "qwen2.5-coder-0.5b"

WORDS = ["hot", "tall", "early", "happy", "open", "light", "fast", "rich", "loud", "young", "wet", "hard"]


def smollm2(slots: int) -> LlamaCppEngine:
    return LlamaCppEngine(
        EMBEDDED["smollm2"].gguf_path(), "smollm2", f"test-{slots}", LlamaCppSettings(slots=slots)
    )


@pytest.mark.slow
def test_decoding_many_sequences_together_stays_as_close_to_fp32_as_one_at_a_time():
    """The scheduler's bookkeeping is checked exactly in test_llamacpp_batch.py; on real weights a
    batched step runs other kernels (llama.cpp quantises activations differently at larger batches),
    so the claim here is distance to the exact fp32 reference, not equality with the one-slot path."""
    from promptflux.models import load_model

    prompt = "Write the antonym of the word.\n\nInput: {}\nOutput:"
    gens = [GenRequest(prompt.format(w), SamplingParams(max_new_tokens=8)) for w in WORDS]
    scores = [ScoreRequest(prompt.format(w), (" cold", " very small")) for w in WORDS]
    reference = load_model("smollm2@hf")
    exact = reference.generate(gens), reference.score(scores)
    results = {}
    for slots in (1, 16):
        lm = smollm2(slots)
        results[slots] = lm.generate(gens), lm.score(scores)
        lm.close()

    def distance(scored):
        gaps = [abs(a - b) for x, y in zip(scored, exact[1]) for a, b in zip(x.logprobs, y.logprobs)]
        return sum(gaps) / len(gaps)

    def agreement(generated):
        return sum(x.text == y.text for x, y in zip(generated, exact[0]))

    alone, together = results[1], results[16]
    assert distance(together[1]) <= 1.25 * distance(alone[1]) + 0.05, (
        distance(together[1]),
        distance(alone[1]),
    )
    assert agreement(together[0]) >= agreement(alone[0]) - 2 >= len(WORDS) // 2


# The rule the defaults follow (README "Engines"): a faster engine replaces the exact fp32 reference
# only within 2 accuracy points of it on benchmarks/target_engines.py. These checks are the same
# comparison on a slice small enough for CI: the share of answers equal to fp32's. llama.cpp and bf16
# kept 97-99% of the answers on the benchmark; int8 kept 74% (SST-2) and 54% (antonyms), which is why
# it is opt-in only — its bound checks that it still reads the input, not that it is exact.
AGREEMENT = {"llamacpp": 0.9, "bfloat16": 0.9, "int8": 0.6}


@pytest.fixture(scope="module")
def sst2_slice():
    from promptflux.models import load_model

    task = get_task("sst2")
    examples = task.split("dev")[:24]
    prompt = "Is this review positive or negative?"
    reference = Evaluator(task, load_model(f"{QWEN}@hf"), cache=OutputCache()).evaluate([prompt], examples)[0]
    return task, examples, prompt, reference


def _engine(kind: str):
    from promptflux.models import load_model
    from promptflux.models.hf import HFSettings
    from promptflux.models.registry import ModelOptions

    if kind == "llamacpp":
        return load_model(f"{QWEN}@llamacpp")
    return load_model(f"{QWEN}@hf", ModelOptions(hf=HFSettings(dtype=kind)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(AGREEMENT))
def test_each_target_engine_agrees_with_the_fp32_reference(sst2_slice, kind):
    task, examples, prompt, reference = sst2_slice
    lm = _engine(kind)
    (result,) = Evaluator(task, lm, cache=OutputCache()).evaluate([prompt], examples)
    lm.close()
    same = sum(a == b for a, b in zip(result.predictions, reference.predictions)) / len(examples)
    assert same >= AGREEMENT[kind], (kind, same, result.predictions, reference.predictions)
    assert reference.mean > 0.7  # the reference itself reads the reviews: the comparison means something
