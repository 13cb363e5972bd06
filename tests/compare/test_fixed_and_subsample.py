"""The `fixed` method (0 steps) and the seeded test subsample every trial of a comparison shares."""

from __future__ import annotations

import json

import pytest
import yaml

from promptflux import recipe
from promptflux.evaluation import OutputCache
from promptflux.evaluation.evaluator import Evaluator
from promptflux.optimizers.fixed import FixedConfig
from promptflux.optimizers.registry import METHODS
from promptflux.recipe.driver import fixed_subsample
from promptflux.runs import read_events
from promptflux.tasks import get_task
from tests.optimizers.fakes import review_task_spec


@pytest.fixture()
def task(tmp_path):
    return review_task_spec(tmp_path, "{train: 8, dev: 6, test: 12}", copies=3)


def run_fixed(tmp_path, task, name, **fields):
    instruction = fields.pop("instruction", "")
    spec = recipe.make_spec(
        "fixed", "default", {"instruction": instruction, "seed": fields.pop("seed", 0)},
        task=task, target="tiny-random", **fields,
    )  # fmt: skip
    return recipe.run(spec, tmp_path / name, cache=OutputCache(tmp_path / "cache.sqlite"))


def test_fixed_is_registered_and_needs_only_the_target():
    assert METHODS["fixed"].uses == frozenset()
    assert FixedConfig.from_preset("quick") == FixedConfig()
    spec = recipe.make_spec("fixed", "default", {}, task="sst2", prompt_lm="x", optimizer_model="y")
    assert spec.prompt_lm is None and spec.optimizer_model is None


def test_fixed_validates_and_tests_its_one_instruction(tmp_path, task):
    result = run_fixed(tmp_path, task, "human", instruction="Say whether the review is positive.")
    assert result["best_prompt"] == "Say whether the review is positive."
    assert set(result["prompts"]) == {"chosen", "no instruction"}
    assert result["budget"]["target_calls"] == 0 and result["stopped"] is None
    assert 0 < result["budget"]["selection_calls"] <= 2 * (6 + 12)  # repeated reviews are asked once
    events = tmp_path / "human" / "events.jsonl"
    assert list(read_events(events, kind="step")) == []
    assert [e["prompt"] for e in read_events(events, kind="validation")] == [result["best_prompt"]]
    assert (tmp_path / "human" / "curve.png").exists()
    none = run_fixed(tmp_path, task, "none")  # "no instruction" as a method
    assert none["best_prompt"] == "" and none["prompts"]["chosen"] == none["prompts"]["no instruction"]


def test_fixed_resumes_from_a_folder_without_a_result(tmp_path, task):
    first = run_fixed(tmp_path, task, "r", instruction="Judge it.")
    (tmp_path / "r" / "result.json").unlink()
    again = recipe.run(None, tmp_path / "r", resume=True, cache=OutputCache(tmp_path / "cache.sqlite"))
    assert again["prompts"] == first["prompts"]


def test_the_subsample_is_seeded_ordered_and_the_same_every_time(task):
    examples = get_task(task).split("test")
    picked = fixed_subsample(examples, 5)
    assert len(picked) == 5 and picked == fixed_subsample(examples, 5)
    positions = [examples.index(ex) for ex in picked]
    assert positions == sorted(positions) and positions != list(range(5))
    assert fixed_subsample(examples, None) == examples == fixed_subsample(examples, 100)


def test_every_trial_is_tested_on_the_same_subsample(tmp_path, task, monkeypatch):
    tested: list[tuple[str, ...]] = []
    real = Evaluator.evaluate

    def spy(self, prompts, examples, on_progress=None):
        if not isinstance(examples, str):  # only the test scoring passes a list for `fixed`
            tested.append(tuple(ex.id for ex in examples))
        return real(self, prompts, examples, on_progress)

    monkeypatch.setattr(Evaluator, "evaluate", spy)
    a = run_fixed(tmp_path, task, "a", test_examples=5)
    b = run_fixed(tmp_path, task, "b", instruction="Judge it.", seed=1, test_examples=5)
    full = run_fixed(tmp_path, task, "full")
    assert tested[0] == tested[1] and len(tested[0]) == 5 and len(tested[2]) == 12
    assert {row["test_n"] for r in (a, b) for row in r["prompts"].values()} == {5}
    assert full["prompts"]["chosen"]["test_n"] == 12
    assert recipe.RunSpec.model_validate({"task": "sst2"}).test_examples is None  # old folders load


def test_optimize_takes_test_examples_and_the_fixed_method(tmp_path, task):
    from typer.testing import CliRunner

    from promptflux.cli import app

    args = [
        "optimize",
        "--method",
        "fixed",
        "--task",
        task,
        "--target",
        "tiny-random",
        "--test-examples",
        "3",
    ]
    args += [
        "--set",
        "instruction=Judge it.",
        "--run-dir",
        str(tmp_path / "r"),
        "--cache",
        str(tmp_path / "c"),
    ]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    assert result["best_prompt"] == "Judge it." and result["prompts"]["chosen"]["test_n"] == 3
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["test_examples"] == 3
