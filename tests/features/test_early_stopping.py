"""Early stopping: a scripted method whose validation scores are known step by step stops exactly where
the rule says, records why (event, result.json, CLI, comparison report), and stays stopped on resume."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from promptflux import recipe
from promptflux.evaluation import OutputCache
from promptflux.models.base import LanguageModel
from promptflux.optimizers.base import Method
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs import read_events
from promptflux.runs.stopping import EarlyStopping, StopRule, ended
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult
from tests.faults.conftest import Interrupted, one_line
from tests.optimizers.fakes import REVIEWS, review_task_spec

LABEL = dict(REVIEWS)


class RightOrWrong(LanguageModel):
    """A target that answers every review right when the instruction says "right", else wrong:
    a prompt's validation accuracy is exactly 1.0 or 0.0."""

    name = "right-or-wrong"

    def fingerprint(self) -> str:
        return "right-or-wrong"

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        raise NotImplementedError

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out = []
        for r in requests:
            instruction, _, rest = r.context.partition("Review:")
            truth = next(label for text, label in LABEL.items() if text in rest)
            says = truth if "right" in instruction else {"positive": "negative"}.get(truth, "positive")
            out.append(ScoreResult((0.0, -1.0) if says == "negative" else (-1.0, 0.0), prompt_tokens=5))
        return out


class ScriptConfig(PresetConfig):
    label: ClassVar[str] = "scripted"
    script: list[str] = Field(default_factory=list, description="One new prompt per step.")
    seed: int = 0


class Scripted:
    """Proposes script[step] at each step: a known best validation score after every step."""

    name = "scripted"

    def __init__(self, config: ScriptConfig) -> None:
        self.script = config.script
        self.found: list[str] = []

    @property
    def total_steps(self) -> int:
        return len(self.script)

    def step(self, step: int) -> dict[str, Any]:
        self.found.append(self.script[step])
        return {"new": self.script[step]}

    def candidates(self) -> list[str]:
        return list(reversed(self.found))

    def baselines(self) -> dict[str, str]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"found": self.found}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.found = list(state["found"])


class _ScriptedEntry:
    """What the registry builds a method from: here, a Scripted from its config alone."""

    @staticmethod
    def from_context(context, config: ScriptConfig) -> Scripted:
        return Scripted(config)


SCRIPTED = Method("scripted", "test method", ScriptConfig, _ScriptedEntry, frozenset())
# Best validation after each step: 0, 0, 1, 1, 1, 1, 1, 1 (step 2 is the only improvement after step 0).
SCRIPT = ["wrong a", "wrong b", "right a", "wrong c", "wrong d", "wrong e", "wrong f", "wrong g"]


@pytest.fixture()
def scripted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    from promptflux.optimizers import context
    from promptflux.optimizers.registry import METHODS

    monkeypatch.setitem(METHODS, "scripted", SCRIPTED)
    real = context.load_model
    monkeypatch.setattr(
        context, "load_model", lambda spec, o: RightOrWrong() if spec == "right-or-wrong" else real(spec, o)
    )
    return review_task_spec(tmp_path, "{train: 4, dev: 6, test: 6}")


def run_scripted(task: str, folder: Path, stop_at: int | None = None, resume: bool = False, **fields):
    def on_step(step: int, summary: dict) -> None:
        if stop_at is not None and step == stop_at:
            raise Interrupted

    spec = None
    if not resume:
        spec = recipe.make_spec(
            "scripted", "default", {"script": SCRIPT}, task=task, target="right-or-wrong", **fields
        )
    try:
        return recipe.run(
            spec, folder, resume=resume, cache=OutputCache(folder.parent / "c.sqlite"), on_step=on_step
        )
    except Interrupted:
        return None


def steps_of(folder: Path) -> list[int]:
    return [e["step"] for e in read_events(folder / "events.jsonl", kind="step")]


def test_the_rule_step_by_step():
    stop = EarlyStopping(StopRule(patience=2))
    assert [stop.update(s, v) for s, v in enumerate([None, 0.2, 0.2, 0.5, 0.5])] == [
        None, None, None, None, None,
    ]  # fmt: skip
    assert stop.update(5, 0.5) == "patience" and stop.step == 5 and stop.best_step == 3
    assert stop.update(6, 0.9) == "patience"  # once stopped, stays stopped
    never = EarlyStopping(StopRule(patience=2))
    assert [never.update(s, None) for s in range(3)] == [None, "patience", "patience"]
    target = EarlyStopping(StopRule(target_score=0.5))
    assert [target.update(s, v) for s, v in enumerate([0.1, 0.49, 0.5])] == [None, None, "target"]
    off = EarlyStopping()
    assert all(off.update(s, 0.0) is None for s in range(50))
    again = EarlyStopping(StopRule(patience=2))
    again.load_state_dict(stop.state_dict())
    assert again.event()["reason"] == "patience" and again.best == 0.5
    assert ended(None, off, 50, 50)["reason"] == "steps"
    assert ended("target call budget exhausted", stop, 3, 8)["reason"] == "budget"


def test_patience_stops_a_run_where_its_validation_scores_say(tmp_path, scripted):
    result = run_scripted(scripted, tmp_path / "run", patience=2)
    # best improves at steps 0 and 2; two steps without improvement -> stop after step 4
    assert steps_of(tmp_path / "run") == [0, 1, 2, 3, 4]
    (event,) = read_events(tmp_path / "run" / "events.jsonl", kind="early_stop")
    assert event["reason"] == "patience" and event["step"] == 4 and event["best_step"] == 2
    assert result["ended"]["reason"] == "patience" and result["ended"]["steps"] == 5
    assert result["ended"]["of"] == len(SCRIPT) and result["stopped"] is None
    assert result["best_prompt"] == "right a" and result["prompts"]["chosen"]["val"] == 1.0


def test_a_target_score_stops_the_run_once_reached(tmp_path, scripted):
    result = run_scripted(scripted, tmp_path / "run", target_score=1.0)
    assert steps_of(tmp_path / "run") == [0, 1, 2]
    assert result["ended"]["reason"] == "target" and "1 reached" in result["ended"]["message"]


def test_without_a_rule_the_run_does_all_its_steps(tmp_path, scripted):
    result = run_scripted(scripted, tmp_path / "run", target_score=None)
    assert steps_of(tmp_path / "run") == list(range(len(SCRIPT)))
    assert result["ended"] == {"reason": "steps", "message": "finished its 8 steps", "steps": 8, "of": 8}
    assert not list(read_events(tmp_path / "run" / "events.jsonl", kind="early_stop"))


def test_a_run_killed_after_stopping_early_stays_stopped_on_resume(tmp_path, scripted):
    folder = tmp_path / "run"
    assert run_scripted(scripted, folder, stop_at=4, patience=2) is None  # killed after the stop's checkpoint
    assert not (folder / "result.json").exists()
    result = run_scripted(scripted, folder, resume=True)
    assert steps_of(folder) == [0, 1, 2, 3, 4]  # no step after the stop, none twice
    assert len(list(read_events(folder / "events.jsonl", kind="early_stop"))) == 1
    assert result["ended"]["reason"] == "patience" and result["ended"]["steps"] == 5


def test_a_run_killed_before_the_stop_stops_at_the_same_step_after_resume(tmp_path, scripted):
    folder = tmp_path / "run"
    assert run_scripted(scripted, folder, stop_at=1, patience=2) is None
    result = run_scripted(scripted, folder, resume=True)
    assert steps_of(folder) == [0, 1, 2, 3, 4] and result["ended"]["reason"] == "patience"


def test_the_cli_takes_the_rule_and_says_why_the_run_ended(tmp_path, scripted, cli):
    args = ["optimize", "--method", "scripted", "--task", scripted, "--target", "right-or-wrong"]
    args += ["--set", f"script={json.dumps(SCRIPT)}", "--cache", tmp_path / "c.sqlite"]
    code, err = cli(*args, "--run-dir", tmp_path / "run", "--patience", "2")
    assert code == 0, err
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["ended"]["reason"] == "patience"
    code, err = cli("optimize", "--resume", tmp_path / "run", "--patience", "5")
    assert code == 2 and "--patience" in one_line(err)
    code, err = cli(*args, "--run-dir", tmp_path / "other", "--target-score", "1.5")
    assert code == 2 and "target-score" in one_line(err)
    from typer.testing import CliRunner

    from promptflux.cli import app

    done = CliRunner().invoke(app, [*map(str, args), "--run-dir", str(tmp_path / "t"), "--target-score", "1"])
    out = " ".join(done.output.split())
    assert done.exit_code == 0 and "ended: stopped early after 3 of 8 steps: target score 1 reached" in out


def test_a_comparison_passes_the_rule_to_every_trial_and_reports_it(tmp_path):
    from promptflux.compare.report import markdown
    from promptflux.compare.spec import build_spec
    from promptflux.compare.summary import summarize
    from promptflux.compare.trials import run_spec
    from tests.compare.helpers import fake_trial

    spec = build_spec(
        {"tasks": ["sst2"], "methods": ["opro", "fixed"], "seeds": [0, 1], "max_target_calls": 100},
        {"patience": 3, "target_score": 0.9},
        {},
    )
    assert run_spec(spec, "sst2", "opro", 0).patience == 3
    assert run_spec(spec, "sst2", "opro", 0).target_score == 0.9
    for seed in (0, 1):
        path = fake_trial(tmp_path, "sst2", "opro", seed, test=0.8, val=0.9, target_calls=40, steps=4)
        result = json.loads((path / "result.json").read_text())
        message = "target score 0.9 reached (best val 0.900)"
        result["ended"] = {"reason": "target", "message": message, "steps": 4, "of": 20}
        (path / "result.json").write_text(json.dumps(result))
    from promptflux.compare.summary import collect

    summary = summarize(spec, collect(tmp_path, spec))
    opro = summary["tasks"][0]["methods"][0]
    assert opro["note"] == "stopped early after 4 steps: target score 0.9 reached (best val 0.900)"
    assert "used 40 of 100" not in markdown(summary)  # not reported as an under-used budget


def first_stop(best_vals: list[float | None], patience: int) -> int | None:
    """The step the rule stops at, recomputed from the logged best validation scores."""
    best, best_step = None, -1
    for step, value in enumerate(best_vals):
        if value is not None and (best is None or value > best):
            best, best_step = value, step
        if step - best_step >= patience:
            return step
    return None


@pytest.mark.slow
def test_patience_on_a_real_target_stops_where_its_logged_scores_say(tmp_path, tagging, task):
    """SmolLM2 as target, the scripted tagging optimiser: wherever the real scores make the run stop,
    it is the first step at which the logged best validation score had not risen for `patience` steps."""
    spec = recipe.make_spec(
        "opro", "quick", {"steps": 8}, task=task, target="smollm2", optimizer_model="tagging", patience=1
    )
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    logged = [e["best_val"] for e in read_events(tmp_path / "run" / "events.jsonl", kind="step")]
    stop = first_stop(logged, 1)
    if stop is None:
        assert len(logged) == 8 and result["ended"]["reason"] == "steps"
    else:
        assert len(logged) == stop + 1 and result["ended"]["reason"] == "patience"
        (event,) = read_events(tmp_path / "run" / "events.jsonl", kind="early_stop")
        assert event["step"] == stop
