"""Racing inside whole runs: OPRO's search scoring and the driver's validation (any method with the
knobs, GFlowPO included), their events, budget and resume; and one run with the real SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptflux import recipe
from promptflux.errors import ConfigError
from promptflux.evaluation import OutputCache
from promptflux.models.base import LanguageModel
from promptflux.optimizers import context
from promptflux.optimizers.components.racing import race_settings
from promptflux.optimizers.registry import get_method
from promptflux.runs import read_events
from promptflux.tasks import get_task
from tests.evaluation.racing_target import ScriptedTarget, numbered_csv
from tests.optimizers.fakes import TaggingModel, review_task_spec

RIGHT, WRONG = "Answer right.", "Answer wrong."
# OPRO's quick preset asks 4 candidates per step; the tagging optimiser replies by slot, so step 0
# proposes these four and later steps propose nothing new.
REPLIES = [WRONG, RIGHT, "Answer wrong again.", "Answer right, please."]


def run_opro(folder: Path, monkeypatch: Any, target: ScriptedTarget, *, resume: bool = False, **knobs: Any):
    """OPRO quick on 40 numbered examples (train 16, dev 16, test 8) with the scripted target."""
    real_load = context.load_model

    def load(spec: str, options: Any) -> LanguageModel:
        if spec == "scripted":
            return target
        return TaggingModel(REPLIES) if spec == "tagging" else real_load(spec, options)

    monkeypatch.setattr(context, "load_model", load)
    spec = None
    if not resume:
        spec = recipe.make_spec(
            "opro",
            "quick",
            knobs,
            task=numbered_csv(folder, "{train: 16, dev: 16, test: 8}"),
            target="scripted",
            optimizer_model="tagging",
        )
    cache = OutputCache(folder / "cache.sqlite")
    try:
        return recipe.run(spec, folder / "run", resume=resume, cache=cache)
    finally:
        cache.close()


def test_raced_opro_drops_wrong_candidates_and_pays_only_for_what_it_scored(tmp_path, monkeypatch):
    (plain_dir := tmp_path / "plain").mkdir()
    (raced_dir := tmp_path / "raced").mkdir()
    plain = run_opro(plain_dir, monkeypatch, ScriptedTarget())
    target = ScriptedTarget()
    raced = run_opro(raced_dir, monkeypatch, target, racing=True, race_block=8)

    # Search: "" in full (16), then the 4 candidates race the best so far ("", free): the two wrong ones
    # are dropped after one block of 8, the two right ones go on to 16.
    assert plain["budget"]["target_calls"] == 16 + 4 * 16
    assert raced["budget"]["target_calls"] == 16 + 2 * 8 + 2 * 16
    evals = {e["prompt"]: e for e in read_events(raced_dir / "run" / "events.jsonl", kind="eval")}
    for wrong in (WRONG, "Answer wrong again."):
        assert evals[wrong]["dropped"] is True and evals[wrong]["of"] == 16
        assert len(evals[wrong]["scores"]) == 8
        assert evals[wrong]["p_value"] < 0.05
    assert "dropped" not in evals[RIGHT] and len(evals[RIGHT]["scores"]) == 16 == evals[RIGHT]["of"]
    assert sum(len(e["scores"]) for e in evals.values()) == raced["budget"]["target_calls"]

    # Validation raced too: the wrong candidates are dropped there on a partial score, never chosen.
    vals = [e for e in read_events(raced_dir / "run" / "events.jsonl", kind="validation")]
    dropped = {e["prompt"]: e for e in vals if e.get("dropped")}
    assert {WRONG, "Answer wrong again."} <= set(dropped)
    assert all(len(e["scores"]) == 8 for e in dropped.values())
    assert raced["raced_out"] == len(dropped) and "raced_out" not in plain
    assert raced["best_prompt"] == plain["best_prompt"] == RIGHT
    assert raced["prompts"]["chosen"]["val"] == 1.0 and raced["prompts"]["chosen"]["test"] == 1.0
    assert raced["budget"]["selection_calls"] < plain["budget"]["selection_calls"]
    assert target.sent == raced["budget"]["target_calls"] + raced["budget"]["selection_calls"]


def test_a_raced_run_killed_mid_race_resumes_without_paying_twice(tmp_path, monkeypatch):
    (clean_dir := tmp_path / "clean").mkdir()
    (crash_dir := tmp_path / "crash").mkdir()
    clean_target = ScriptedTarget()
    clean = run_opro(clean_dir, monkeypatch, clean_target, racing=True)
    dying = ScriptedTarget(crash_after=16 + 8 * 4)  # "" and the first block of all four, then it dies
    with pytest.raises(RuntimeError, match="server died"):
        run_opro(crash_dir, monkeypatch, dying, racing=True)
    assert dying.sent == 16 + 8 * 4
    revived = ScriptedTarget()
    resumed = run_opro(crash_dir, monkeypatch, revived, resume=True)
    assert dying.sent + revived.sent == clean_target.sent  # nothing paid twice
    assert resumed["budget"]["target_calls"] == clean["budget"]["target_calls"]
    assert resumed["prompts"] == clean["prompts"] and resumed["raced_out"] == clean["raced_out"]


def test_racing_knobs_are_off_by_default_on_every_racing_method_and_errors_are_one_line():
    for name in ("gpo", "ape", "opro", "evoprompt", "gflowpo"):
        config = get_method(name).config.from_preset("default")
        assert config.racing is False and race_settings(config) is None
        raced = get_method(name).config.from_preset("default", racing=True, race_block=4, race_alpha=0.1)
        assert race_settings(raced).block == 4 and race_settings(raced).alpha == 0.1
    assert race_settings(get_method("protegi").config.from_preset("default")) is None
    with pytest.raises(ConfigError, match=r"OPRO config: race_alpha: .*less than 1") as e:
        get_method("opro").config.from_preset("default", racing=True, race_alpha=2)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="use ranking=halving"):
        get_method("ape").config.from_preset("default", racing=True, ranking="ucb")
    with pytest.raises(ConfigError, match="unknown key"):
        get_method("protegi").config.from_preset("default", racing=True)


def test_gflowpo_races_its_candidate_validation(tmp_path, monkeypatch):
    """GFlowPO's search rewards need full scores; `racing` races the validation of its candidates."""
    target = ScriptedTarget()
    real_load = context.load_model
    monkeypatch.setattr(context, "load_model", lambda s, o: target if s == "scripted" else real_load(s, o))
    spec = recipe.make_spec(
        "gflowpo",
        "quick",
        {"steps": 2, "warmup_steps": 1, "micro_batch_size": 2, "grad_accumulation": 1, "max_new_tokens": 8}
        | {"racing": True, "race_block": 4},
        task=numbered_csv(tmp_path, "{train: 8, dev: 16, test: 8}"),
        target="scripted",
        prompt_lm="tiny-random",
    )
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "cache.sqlite"))
    vals = list(read_events(tmp_path / "run" / "events.jsonl", kind="validation"))
    assert vals and all(e["of"] == 16 for e in vals)
    full = [e for e in vals if not e.get("dropped")]
    assert result["best_prompt"] in {e["prompt"] for e in full}
    assert result["raced_out"] == len(vals) - len(full)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["raced_out"] == result["raced_out"]


@pytest.mark.slow
def test_raced_opro_with_the_real_smollm2(tmp_path):
    """The real embedded SmolLM2 as target and optimiser on a small review task, racing on: the run
    ends, what it scored accounts for every target call, and a dropped candidate is never chosen."""
    spec = recipe.make_spec(
        "opro",
        "quick",
        {"steps": 1, "candidates_per_step": 3, "max_new_tokens": 24, "accept_unterminated": True}
        | {"racing": True, "race_block": 4, "race_alpha": 0.2},
        task=review_task_spec(tmp_path, "{train: 8, dev: 8, test: 4}"),
        target="smollm2",
        optimizer_model="smollm2",
    )
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "cache.sqlite"))
    events = tmp_path / "run" / "events.jsonl"
    evals = list(read_events(events, kind="eval"))
    assert evals and all(e["of"] == 8 for e in evals)
    # The task repeats its reviews: a repeated (prompt, input) pair is paid once, so the calls are the
    # distinct pairs among the examples each prompt was scored on.
    train = [ex.input for ex in get_task(spec.task).split("train")]
    assert sum(len(set(train[: len(e["scores"])])) for e in evals) == result["budget"]["target_calls"]
    dropped = {e["prompt"] for e in read_events(events, kind="validation") if e.get("dropped")}
    assert result["best_prompt"] not in dropped and result["raced_out"] == len(dropped)


def test_a_raced_out_partial_score_is_never_a_best_validation_point(tmp_path):
    from promptflux.runs.event_types import Validation
    from promptflux.runs.events import EventLog
    from promptflux.runs.report import curves

    log = EventLog(tmp_path / "events.jsonl")
    budget = {"target_calls": 10}
    log.record(Validation(prompt="a", split="dev", scores=[1, 0, 0, 0], accuracy=0.25, budget=budget))
    lucky = Validation(
        prompt="b", split="dev", scores=[1, 1], accuracy=1.0, budget=budget, of=4, dropped=True, p_value=0.01
    )
    log.record(lucky)
    log.close()
    assert curves(tmp_path / "events.jsonl")["best_val"] == [(10, 0.25)]
