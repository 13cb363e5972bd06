"""GFlowPO seeded with prompts found elsewhere: sources, the planted buffer, the accounting, compare."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from promptflux.compare.trials import expand
from promptflux.errors import ConfigError
from promptflux.evaluation import Budget, Evaluator, OutputCache
from promptflux.models.hf import FrozenBase
from promptflux.models.tiny import tiny_random_model
from promptflux.optimizers.components.meta_prompt import extract_instruction
from promptflux.optimizers.components.seeds import load_seed_prompts
from promptflux.optimizers.gflowpo import GFlowPOConfig, PromptPolicy
from promptflux.optimizers.gflowpo.trainer import GFlowPOMethod
from promptflux.runs import read_events
from tests.helpers import toy_sentiment_task
from tests.optimizers.fakes import review_task_spec
from tests.optimizers.test_run import optimize_cmd

SEEDS = ["Say whether the review is positive or negative.", "Classify the sentiment.", "Reply yes."]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def seeded_trainer(tmp_path: Path, **overrides) -> GFlowPOMethod:
    source = tmp_path / "seeds.txt"
    source.write_text("\n".join(SEEDS) + "\n")
    task, lm = toy_sentiment_task(), tiny_random_model(seed=0)
    config = GFlowPOConfig.from_preset(
        "default", steps=4, warmup_steps=1, micro_batch_size=2, grad_accumulation=1, max_new_tokens=8,
        seed_prompts=str(source), **overrides,
    )  # fmt: skip
    budget = Budget()
    return GFlowPOMethod(
        config,
        PromptPolicy(lm, config.lora_settings()),
        Evaluator(task, FrozenBase(lm), budget=budget),
        train=task.split("train")[:4],
        demo_pool=task.split("train")[4:],
        budget=budget,
        seeds=load_seed_prompts(config.seed_prompts, config.seed_limit),
    )


def test_a_text_file_gives_distinct_one_line_prompts_up_to_the_limit(tmp_path):
    source = tmp_path / "list.txt"
    source.write_text("Classify  the\tsentiment.\n\nClassify the sentiment.\n**Be** brief.\nThird one.\n")
    seeds = load_seed_prompts(str(source), limit=2)
    assert seeds.texts == ("Classify the sentiment.", "Be brief.") and seeds.imported_answers == 0


def test_a_missing_or_empty_source_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="neither a run folder nor a text file"):
        load_seed_prompts(str(tmp_path / "nope"), 4)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ConfigError, match="holds no prompt"):
        load_seed_prompts(str(tmp_path / "empty.txt"), 4)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="not a run folder"):
        load_seed_prompts(str(tmp_path / "folder"), 4)
    (tmp_path / "folder" / "events.jsonl").write_text('{"kind": "eval", "prompt": "x", "accuracy": 1.0}\n')
    with pytest.raises(ConfigError, match="has not finished"):
        load_seed_prompts(str(tmp_path / "folder"), 4)


def test_a_seed_trajectory_decodes_back_to_its_text():
    policy = PromptPolicy(tiny_random_model(seed=0), GFlowPOConfig().lora_settings())
    for text in SEEDS:
        ids = policy.trajectory_of(text)
        assert ids[-1] in policy.terminal_ids  # a finished trajectory, as a sample would be
        assert extract_instruction(policy.lm.tokenizer.decode(list(ids))) == text


def test_step_0_plants_the_seeds_in_the_buffer_and_the_queue_and_pays_for_their_scores(tmp_path):
    trainer = seeded_trainer(tmp_path)
    trainer.step(0)
    buffered = {e.text: e for e in trainer.buffer.entries}
    assert set(SEEDS) <= set(buffered)
    assert set(trainer.queue.texts) & set(SEEDS)
    assert all(buffered[t].token_ids == trainer.policy.trajectory_of(t) for t in SEEDS)
    # 3 seeds + 2 warm-up samples, each scored on the 4 training examples (duplicates are free)
    assert 3 * 4 < trainer.budget.used["target"].calls <= 5 * 4
    assert set(SEEDS) <= set(trainer.candidates())  # a seed can be validated and chosen


def test_seeds_are_replayed_for_free_after_warm_up(tmp_path):
    trainer = seeded_trainer(tmp_path, online_ratio=0.0)
    trainer.step(0)
    calls = trainer.budget.used["target"].calls
    summary = trainer.step(1)  # replay only: seeds and warm-up samples, no target call
    assert trainer.budget.used["target"].calls == calls and summary["loss"] >= 0


def test_compare_fills_the_trial_into_a_seed_source():
    value = "grid/trials/{task_slug}/ape/seed-{seed}"
    assert expand(value, "ii/antonyms", 2) == "grid/trials/ii_antonyms/ape/seed-2"
    assert expand(3, "sst2", 0) == 3 and expand("plain", "sst2", 0) == "plain"


@pytest.mark.slow
def test_a_run_folder_seeds_another_run_and_its_paid_answers_are_free(tmp_path):
    """A first run scores its samples on every training example; GFlowPO seeded from its folder (with a
    fresh shared cache) finds those answers in its own ledger as `imported`: not sent, not charged."""
    spec = review_task_spec(tmp_path, "{train: 8, dev: 8, test: 10}", copies=3)
    source = tmp_path / "source"
    sets = ("steps=2", "warmup_steps=1", "max_new_tokens=8", "seed=7")
    cmd = optimize_cmd(spec, source, tmp_path / "a.sqlite", "gflowpo", "tiny-random", *sets)
    subprocess.run(cmd, check=True, timeout=600)
    source_prompts = {e["prompt"].strip() for e in read_events(source / "events.jsonl", kind="eval")}
    assert source_prompts - {""}

    ledger = OutputCache()
    seeds = load_seed_prompts(str(source), limit=8, ledger=ledger)
    paid = OutputCache(source / "ledger.sqlite").items("target")
    assert seeds.imported_answers == len(paid) == len(ledger.items("imported")) > 0
    assert ledger.usage("target").calls == 0  # imported answers are not this run's spend
    assert set(seeds.texts) >= source_prompts - {""}

    run = tmp_path / "seeded"
    sets = ("steps=3", "warmup_steps=1", "max_new_tokens=8", f"seed_prompts={source}")
    subprocess.run(
        optimize_cmd(spec, run, tmp_path / "b.sqlite", "gflowpo", "tiny-random", *sets), check=True
    )
    (planted,) = read_events(run / "events.jsonl", kind="seeds_planted")
    assert planted["prompts"] == list(seeds.texts) and planted["imported_answers"] == seeds.imported_answers
    sampled = [
        p for e in read_events(run / "events.jsonl", kind="micro_batch") if e["online"] for p in e["prompts"]
    ]
    result = json.loads((run / "result.json").read_text())
    assert result["budget"]["target_calls"] <= 8 * len(sampled)  # the seeds' scores cost nothing
    rewritten = [t for t in seeds.texts if t not in source_prompts]  # one-lined: a new request
    assert planted["budget"]["target_calls"] == 8 * len(rewritten)


@pytest.mark.slow
def test_smollm2_seeded_from_a_list_trains_on_the_seeds(tmp_path):
    """The real embedded model as prompt-LM and target: seeds are planted and replayed in the update."""
    spec = review_task_spec(tmp_path, "{train: 8, dev: 8, test: 10}", copies=3)
    (tmp_path / "seeds.txt").write_text("\n".join(SEEDS) + "\n")
    sets = ("steps=2", "warmup_steps=1", "max_new_tokens=16", "online_ratio=0.0",
            f"seed_prompts={tmp_path / 'seeds.txt'}")  # fmt: skip
    run = tmp_path / "run"
    subprocess.run(optimize_cmd(spec, run, tmp_path / "c.sqlite", "gflowpo", "smollm2", *sets), check=True)
    (planted,) = read_events(run / "events.jsonl", kind="seeds_planted")
    assert planted["prompts"] == SEEDS and len(planted["accuracy"]) == 3
    replayed = [e for e in read_events(run / "events.jsonl", kind="micro_batch") if not e["online"]]
    assert replayed and replayed[0]["loss"] is not None
    assert set(replayed[0]["prompts"]) & set(SEEDS) or len(replayed[0]["prompts"]) == 4
