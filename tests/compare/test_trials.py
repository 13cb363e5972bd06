"""Trials: one run folder per (task, method, seed), their state, and no silent mixing of configs."""

from __future__ import annotations

import sys

import pytest
import yaml

from promptflux.compare.ray_executor import needs_gpu, run_ray
from promptflux.compare.spec import parse_spec
from promptflux.compare.trials import check_stored, one_line, plan_trials, task_slug
from promptflux.errors import ConfigError
from promptflux.models.defaults import DEFAULT_OPTIMIZER
from promptflux.runs import RunFolder

GRID = {
    "tasks": ["sst2", "bbh/navigate"],
    "methods": ["fixed", {"name": "fixed", "label": "human", "set": {"instruction": "Answer."}}, "opro"],
    "seeds": [0, 1],
    "preset": "quick",
    "max_target_calls": 100,
    "test_examples": 20,
}


def test_task_slugs():
    assert task_slug("sst2") == "sst2"
    assert task_slug("bbh/navigate") == "bbh_navigate"
    assert task_slug("custom:/data/x/tickets.yaml") == "custom-tickets"


def test_one_trial_per_task_method_and_seed_with_the_shared_budget(tmp_path):
    trials = plan_trials(parse_spec(GRID), tmp_path)
    assert len(trials) == 2 * 3 * 2
    first = trials[0]
    assert first.path == tmp_path.resolve() / "trials" / "sst2" / "fixed" / "seed-0"
    assert trials[-1].path.parts[-3:] == ("bbh_navigate", "opro", "seed-1")
    assert {t.spec.max_target_calls for t in trials} == {100}
    assert {t.spec.test_examples for t in trials} == {20}
    assert [t.spec.method_config().seed for t in trials[:2]] == [0, 1]
    human = next(t for t in trials if t.label == "human")
    assert human.spec.method == "fixed" and human.spec.hyperparameters["instruction"] == "Answer."
    opro = next(t for t in trials if t.label == "opro")
    assert opro.spec.hyperparameters["steps"] == 3  # the quick preset
    assert opro.spec.optimizer_model == DEFAULT_OPTIMIZER and first.spec.optimizer_model is None
    assert all(t.state() == "new" for t in trials)


def test_a_bad_method_knob_names_the_method(tmp_path):
    grid = {**GRID, "methods": [{"name": "opro", "label": "o2", "set": {"stepz": 1}}]}
    with pytest.raises(ConfigError, match=r"method 'o2': OPRO config: stepz: unknown key"):
        plan_trials(parse_spec(grid), tmp_path)


def test_states_follow_the_folder(tmp_path):
    trial = plan_trials(parse_spec(GRID), tmp_path)[0]
    RunFolder.create(trial.path, trial.spec.model_dump(mode="json")).close()
    assert trial.state() == "interrupted"
    (trial.path / "result.json").write_text("{}")
    assert trial.state() == "finished"


def test_a_stored_trial_of_another_budget_is_an_error_not_a_silent_mix(tmp_path):
    trial = plan_trials(parse_spec(GRID), tmp_path)[4]  # sst2 / opro / seed 0
    RunFolder.create(trial.path, trial.spec.model_dump(mode="json")).close()
    check_stored(trial)  # the same config: fine
    plan_trials(parse_spec(GRID), tmp_path)
    with pytest.raises(ConfigError) as err:
        plan_trials(parse_spec({**GRID, "max_target_calls": 200}), tmp_path)
    message = str(err.value)
    assert "was run with max_target_calls=100 but the comparison now asks for 200" in message
    assert str(trial.path) in message and "\n" not in message
    with pytest.raises(ConfigError, match=r"hyperparameters\.steps=3 but the comparison now asks for 4"):
        plan_trials(parse_spec({**GRID, "methods": [{"name": "opro", "set": {"steps": 4}}]}), tmp_path)


def test_a_run_folder_from_before_test_examples_existed_still_loads(tmp_path):
    grid = {**GRID, "test_examples": None}
    trial = plan_trials(parse_spec(grid), tmp_path)[0]
    old = trial.spec.model_dump(mode="json")
    del old["test_examples"]  # written by an earlier promptflux
    trial.path.mkdir(parents=True)
    (trial.path / "config.yaml").write_text(yaml.safe_dump(old))
    check_stored(trial)


def test_a_knob_added_since_a_trial_ran_counts_at_its_default(tmp_path):
    """Trials finished before `racing` existed stay valid: their stored hyper-parameters lack the knob,
    and its default (off) is what they ran; asking for the knob on is still a different run."""
    trial = plan_trials(parse_spec(GRID), tmp_path)[4]  # sst2 / opro / seed 0
    old = trial.spec.model_dump(mode="json")
    old["hyperparameters"].pop("racing", None)
    trial.path.mkdir(parents=True)
    (trial.path / "config.yaml").write_text(yaml.safe_dump(old))
    check_stored(trial)
    raced = parse_spec({**GRID, "methods": [{"name": "opro", "set": {"racing": True}}]})
    with pytest.raises(
        ConfigError, match=r"hyperparameters\.racing=False but the comparison now asks for True"
    ):
        plan_trials(raced, tmp_path)


def test_one_line_errors():
    assert one_line(ConfigError("bad model")) == "bad model"
    assert one_line(RuntimeError("boom\nmore")) == "RuntimeError: boom"
    assert one_line(MemoryError()) == "MemoryError"


def test_gpu_scheduling_rule():
    assert needs_gpu("cuda", 0) and needs_gpu("auto", 2)
    assert not needs_gpu("auto", 0) and not needs_gpu("cpu", 4)


def test_ray_missing_or_a_pinned_gpu_is_a_one_line_error(tmp_path, monkeypatch):
    trials = plan_trials(parse_spec({**GRID, "device": "cuda:1"}), tmp_path)
    with pytest.raises(ConfigError, match="use --device cuda or auto, not 'cuda:1'"):
        run_ray(trials, address=None, jobs=None, cache_path=None)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"--ray needs Ray: pip install 'ray>=2.40'"):
        run_ray(trials, address=None, jobs=None, cache_path=None)
