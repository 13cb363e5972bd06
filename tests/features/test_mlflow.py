"""Experiment tracking with MLflow (issue 15, item 5), read back from a local SQLite tracking store.

A run is logged live (params at the start, metrics after each step, the end from result.json); a
comparison is one parent run with a nested run per trial. Each test finds its own MLflow runs by the
run folder's tag, so one store (one schema migration) serves the whole module.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("mlflow", reason="the mlflow extra: pip install 'promptflux[mlflow]'")
from mlflow.tracking import MlflowClient

from promptflux.compare.runner import run_comparison
from promptflux.compare.spec import parse_spec
from promptflux.tracking import mlflow as tracking
from promptflux.tracking.values import params
from tests.faults.conftest import one_line, quick_run
from tests.optimizers.fakes import review_task_spec

SECRET = "sk-do-not-log-0123456789"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture()
def client(store: str) -> MlflowClient:
    return MlflowClient(store)


def runs_of(client: MlflowClient, tag: str, value: Path | str) -> list:
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id
    return client.search_runs([experiment], f"tags.`{tag}` = '{value}'")


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def files(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, path)}


def test_a_run_is_logged_live_with_params_step_metrics_scores_and_its_files(
    tmp_path, task, tagging, store, client, monkeypatch
):
    monkeypatch.setenv("TEAM_KEY", SECRET)  # a key variable is named in the config, never its value
    result = quick_run(tmp_path / "run", task, mlflow_uri=store, target_api_key_env="TEAM_KEY")
    (run,) = runs_of(client, tracking.FOLDER_TAG, (tmp_path / "run").resolve())
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["method"] == "opro" and p["target"] == "tiny-random" and p["hyperparameters.steps"] == "4"
    assert p["target_api_key_env"] == "TEAM_KEY" and SECRET not in json.dumps(p)
    assert p["best_prompt"] == result["best_prompt"] == run.data.tags["promptflux.best_prompt"]
    # per-step metrics at the run's step index: the best validation score and the budget counters
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["kind"] == "step"]
    assert history(client, run.info.run_id, "best_val") == [(e["step"], e["best_val"]) for e in steps]
    calls = history(client, run.info.run_id, "budget/target_calls")
    assert calls == [(e["step"], e["budget"]["target_calls"]) for e in steps]
    assert [s for s, _ in history(client, run.info.run_id, "budget/optimizer_prompt_tokens")] == [0, 1, 2, 3]
    # the end: test scores with their interval, the final counters
    chosen, m = result["prompts"]["chosen"], run.data.metrics
    assert m["test/chosen"] == chosen["test"] and m["val/chosen"] == chosen["val"]
    assert [m["test/chosen_ci_low"], m["test/chosen_ci_high"]] == chosen["test_ci95"]
    assert m["test/no_instruction"] == result["prompts"]["no instruction"]["test"]
    assert m["final/selection_calls"] == result["budget"]["selection_calls"]
    assert files(client, run.info.run_id) == {"best_prompt.txt", "run"}
    assert files(client, run.info.run_id, "run") == {
        "run/config.yaml", "run/result.json", "run/events.jsonl", "run/curve.png"
    }  # fmt: skip
    text = client.download_artifacts(run.info.run_id, "best_prompt.txt", str(tmp_path))
    assert Path(text).read_text() == result["best_prompt"]
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["mlflow_uri"] == store


def test_a_killed_and_resumed_run_continues_the_same_mlflow_run(tmp_path, task, tagging, store, client):
    assert quick_run(tmp_path / "run", task, stop_after=1, mlflow_uri=store, max_target_calls=1000) is None
    (run,) = runs_of(client, tracking.FOLDER_TAG, (tmp_path / "run").resolve())
    assert run.info.status == "FAILED"
    assert [s for s, _ in history(client, run.info.run_id, "best_val")] == [0, 1]
    quick_run(tmp_path / "run", resume=True, changes={"max_target_calls": 10_000})
    (again,) = runs_of(client, tracking.FOLDER_TAG, (tmp_path / "run").resolve())
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert [s for s, _ in history(client, run.info.run_id, "best_val")] == [0, 1, 2, 3]  # none twice
    assert again.data.params["max_target_calls"] == "1000"  # MLflow never rewrites a param …
    assert again.data.tags["changed.max_target_calls"] == "10000"  # … a raised budget is a tag


def test_a_failing_tracking_store_is_a_warning_and_the_run_goes_on(tmp_path, task, tagging, store, caplog):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as mp, caplog.at_level(logging.WARNING):
        mp.setattr(tracking, "_log_metrics", broken)
        result = quick_run(tmp_path / "run", task, mlflow_uri=store)
    assert result is not None and (tmp_path / "run" / "result.json").exists()
    assert "MLflow logging stopped (the run goes on): disk full" in caplog.text


def test_without_the_mlflow_package_the_flag_is_one_line_naming_the_extra(tmp_path, task, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # import mlflow.tracking -> ImportError
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--target", "tiny-random",
                    "--mlflow", "--run-dir", tmp_path / "run")  # fmt: skip
    assert code == 2 and "pip install 'promptflux[mlflow]'" in one_line(err)
    assert not (tmp_path / "run").exists()


def test_a_tracking_uri_with_credentials_is_refused(tmp_path, task, cli):
    uri = "http://me:hunter2@mlflow.example/"
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--target", "tiny-random",
                    "--mlflow-uri", uri, "--run-dir", tmp_path / "run")  # fmt: skip
    line = one_line(err)
    assert code == 2 and "must not hold credentials" in line and "hunter2" not in line


def test_params_never_hold_a_secret_value():
    flat = params({"api_key_env": "K", "api_key": SECRET, "hyperparameters": {"hf_token": SECRET, "lr": 0.1}})
    assert flat == {"api_key_env": "K", "hyperparameters.lr": "0.1"}


def test_the_mlflow_flag_uses_the_environments_tracking_uri(tmp_path, task, cli, store, client, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--target", "tiny-random",
                    "--mlflow", "--run-dir", tmp_path / "run", "--cache", tmp_path / "c.sqlite")  # fmt: skip
    assert code == 0, err
    (run,) = runs_of(client, tracking.FOLDER_TAG, (tmp_path / "run").resolve())
    assert run.data.params["method"] == "fixed" and "test/chosen" in run.data.metrics


def test_a_comparison_is_a_parent_run_with_one_nested_run_per_trial(tmp_path, store, client):
    task = review_task_spec(tmp_path, "{train: 6, dev: 4, test: 4}", copies=2)
    grid = {
        "tasks": [task],
        "methods": [
            {"name": "fixed", "label": "none", "set": {"instruction": ""}},
            {"name": "fixed", "label": "human", "set": {"instruction": "Is the review positive?"}},
        ],
        "seeds": [0],
        "max_target_calls": 50,
        "target": "tiny-random",
        "jobs": 1,
        "mlflow_uri": store,
    }
    out = tmp_path / "cmp"
    outcome = run_comparison(parse_spec(grid), out, cache_path=tmp_path / "cache.sqlite")
    assert not outcome.errors
    (parent,) = runs_of(client, tracking.COMPARE_TAG, out.resolve())
    assert parent.info.status == "FINISHED" and parent.data.params["methods"]  # the grid as params
    assert {"compare.yaml", "summary.json", "table.md", "report.html"} <= files(client, parent.info.run_id)
    children = runs_of(client, tracking.PARENT_TAG, parent.info.run_id)
    assert sorted(c.data.params["hyperparameters.instruction"] for c in children) == [
        "", "Is the review positive?"
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    for child in children:
        assert child.info.status == "FINISHED" and "run/result.json" in files(
            client, child.info.run_id, "run"
        )
        result = json.loads((Path(child.data.tags[tracking.FOLDER_TAG]) / "result.json").read_text())
        assert child.data.metrics["test/chosen"] == result["prompts"]["chosen"]["test"]
    assert summary  # the report was written before the parent run ended
    run_comparison(parse_spec(grid), out, cache_path=tmp_path / "cache.sqlite")  # a rerun: nothing new
    assert len(runs_of(client, tracking.COMPARE_TAG, out.resolve())) == 1
    assert len(runs_of(client, tracking.PARENT_TAG, parent.info.run_id)) == 2


@pytest.mark.slow
def test_a_smollm2_run_is_logged_from_the_command_line(tmp_path, cli, store, client):
    task = review_task_spec(tmp_path, "{train: 4, dev: 6, test: 10}", copies=2)
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--target", "smollm2",
                    "--set", "instruction=Is this review positive or negative?", "--mlflow-uri", store,
                    "--run-dir", tmp_path / "run", "--cache", tmp_path / "c.sqlite")  # fmt: skip
    assert code == 0, err
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    (run,) = runs_of(client, tracking.FOLDER_TAG, (tmp_path / "run").resolve())
    assert run.data.params["target"] == "smollm2" and run.info.status == "FINISHED"
    assert run.data.params["best_prompt"] == result["best_prompt"]
    assert run.data.metrics["test/chosen"] == result["prompts"]["chosen"]["test"]
    assert run.data.metrics["test/chosen_n"] == 10


def test_compare_flags_reach_the_trials_and_the_tracking_store(tmp_path, cli, store, client):
    task = review_task_spec(tmp_path, "{train: 6, dev: 4, test: 4}", copies=2)
    out = tmp_path / "cmp"
    code, err = cli("compare", "--tasks", task, "--methods", "fixed", "--max-calls", "20", "--jobs", "1",
                    "--target", "tiny-random", "--optimizer-base-url", "http://opt.example/v1",
                    "--mlflow-uri", store, "--out", out, "--cache", tmp_path / "c.sqlite")  # fmt: skip
    assert code == 0, err
    (config,) = (out / "trials").rglob("config.yaml")
    saved = yaml.safe_load(config.read_text())
    assert saved["optimizer_base_url"] == "http://opt.example/v1" and saved["mlflow_uri"] is None
    (parent,) = runs_of(client, tracking.COMPARE_TAG, out.resolve())
    (child,) = runs_of(client, tracking.PARENT_TAG, parent.info.run_id)
    assert child.data.params["optimizer_base_url"] == "http://opt.example/v1"
