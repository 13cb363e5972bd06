"""Prompt length as an objective: the selection trades validation accuracy for prompt tokens by the
run's length_penalty, and the run and comparison reports show the Pareto front."""

from __future__ import annotations

import json

import pytest

from promptflux.recipe.objective import LengthObjective
from promptflux.runs.pareto import PARETO_TABLE, Point, pareto_front, points
from tests.features.scripted import ScriptedTarget, run_scripted

# prompt -> (right answers of 4 validation examples, words): a is short and weak, c long and perfect,
# d is dominated by b (as accurate, longer).
CANDIDATES = {"a": 2, "b b b": 3, "c c c c c c c c c c": 4, "d d d d d": 3}


def words(text: str) -> int:
    return len(text.split())


def objective(penalty: float) -> LengthObjective:
    return LengthObjective(penalty, words, "words (test)")


@pytest.mark.parametrize(
    ("penalty", "chosen"),
    [(None, "c c c c c c c c c c"), (0.0, "c c c c c c c c c c"), (0.02, "c c c c c c c c c c"),
     (0.05, "b b b"), (0.3, "a")],
)  # fmt: skip
def test_the_selection_trades_accuracy_for_tokens_by_the_penalty(tmp_path, penalty, chosen):
    target = ScriptedTarget(CANDIDATES)
    result = run_scripted(
        tmp_path / "run", target, list(CANDIDATES), objective=None if penalty is None else objective(penalty)
    )
    assert result["best_prompt"] == chosen
    row = result["prompts"]["chosen"]
    assert row["val"] == CANDIDATES[chosen] / 4  # the raw accuracy is kept
    if penalty is None:
        assert "selection" not in result and "prompt_tokens" not in row
        assert not (tmp_path / "run" / PARETO_TABLE).exists()
        return
    assert result["selection"]["length_penalty"] == penalty
    assert result["selection"]["score"] == ("val" if penalty == 0 else "val - length_penalty * prompt_tokens")
    assert row["prompt_tokens"] == words(chosen)
    assert row["val_score"] == pytest.approx(row["val"] - penalty * words(chosen))
    assert result["prompts"]["no instruction"]["prompt_tokens"] == 0
    # The Pareto front, from the event log alone: d is dominated by b.
    front = pareto_front(points(tmp_path / "run" / "events.jsonl"))
    assert [(p.prompt, p.tokens, p.accuracy) for p in front] == [
        ("a", 1, 0.5),
        ("b b b", 3, 0.75),
        ("c c c c c c c c c c", 10, 1.0),
    ]
    table = (tmp_path / "run" / PARETO_TABLE).read_text()
    assert "| 3 | 0.750 | 0 | b b b |" in table and "d d d" not in table
    assert (tmp_path / "run" / "curve.png").stat().st_size > 0


def test_the_pareto_front_keeps_only_undominated_points():
    pts = [
        Point("long", 0.9, 30),
        Point("tie-longer", 0.5, 12),
        Point("short", 0.5, 2),
        Point("same", 0.5, 2),
        Point("mid", 0.7, 10),
        Point("worse-mid", 0.6, 10),
        Point("best", 0.9, 20),
    ]
    assert [p.prompt for p in pareto_front(pts)] == ["short", "mid", "best"]
    assert pareto_front([]) == []


def test_tokens_count_instruction_and_demonstrations():
    o = objective(0.1)
    assert o.tokens("") == 0 and o.tokens("  ") == 0
    assert o.tokens("Say it.") == 2
    assert o.tokens("", "Review: x\nSentiment: positive") == 4
    assert o.tokens("Say it.", "Review: x") == 4


def test_the_run_config_takes_the_length_penalty_and_refuses_a_negative_one():
    from promptflux.errors import ConfigError
    from promptflux.recipe import make_spec

    spec = make_spec("fixed", "default", {"instruction": "x"}, task="sst2", length_penalty=0.01)
    assert spec.length_penalty == 0.01 and make_spec("fixed", task="sst2").length_penalty is None
    with pytest.raises(ConfigError, match="length_penalty"):
        make_spec("fixed", task="sst2", length_penalty=-1)


def test_counting_with_the_targets_tokenizer_or_the_documented_estimate():
    estimated = LengthObjective.for_target(0.01, "openai:some-model")
    assert "characters / 4" in estimated.basis and estimated.tokens("abcdefgh") == 2
    exact = LengthObjective.for_target(0.01, "tiny-random")  # SmolLM2's tokenizer, when on disk
    if "tokenizer" in exact.basis and "estimated" not in exact.basis:
        assert exact.tokens("Classify the review.") == 5  # SmolLM2 splits "Classify"


def test_the_comparison_report_draws_and_tabulates_the_front(tmp_path):
    from promptflux.compare import pareto
    from promptflux.compare.report import TrialRecord

    run = tmp_path / "run"
    run_scripted(run, ScriptedTarget(CANDIDATES), list(CANDIDATES), objective=objective(0.05))
    other = tmp_path / "other"
    run_scripted(other, ScriptedTarget({"e e": 4}), ["e e"], objective=objective(0.05))
    records = [
        TrialRecord("t", "list", "list", 0, run, "finished"),
        TrialRecord("t", "short", "list", 0, other, "finished"),
        TrialRecord("u", "list", "list", 0, tmp_path / "none", "failed"),
    ]
    task = {"task": "t", **pareto.front_summary(records, "t")}
    # "e e" (2 tokens, 1.0) dominates b and c; a (1 token) stays.
    assert [(p["method"], p["prompt"]) for p in task["pareto"]] == [("list", "a"), ("short", "e e")]
    md = "\n".join(pareto.markdown_lines(task))
    assert "| short | 2 | 1.000 | 0 | e e |" in md and "b b b" not in md
    assert pareto.front_summary(records, "u") == {}
    assert pareto.plot(["t", "u"], records, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").stat().st_size > 0
    page = pareto.html_section({"tasks": [task]}, (tmp_path / "pareto.png").read_bytes())
    assert "data:image/png;base64," in page and "<td>e e" not in page and "e e</pre>" in page


def test_the_cli_takes_length_penalty_and_refuses_a_negative_one(tmp_path, task, cli):
    run = tmp_path / "run"
    args = ["optimize", "--task", task, "--method", "fixed", "--set", "instruction=Classify the review."]
    args += ["--target", "tiny-random", "--run-dir", run, "--cache", tmp_path / "cache.sqlite"]
    code, err = cli(*args, "--length-penalty", "-1")
    assert code == 2 and "length-penalty" in err and not run.exists()
    code, err = cli(*args, "--length-penalty", "0.01")
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())
    assert result["selection"]["length_penalty"] == 0.01 and "tiny-random" in result["selection"]["tokens"]
    assert result["prompts"]["chosen"]["prompt_tokens"] > 0 and (run / PARETO_TABLE).is_file()


@pytest.mark.slow
def test_with_smollm2_a_large_penalty_picks_the_shortest_and_none_the_most_accurate(tmp_path):
    """SmolLM2 scores real instructions; tokens are counted with its own tokenizer."""
    from promptflux.models import load_model
    from tests.features.scripted import scripted_task

    prompts = [
        "Sentiment?",
        "Read the review and say whether its sentiment is positive or negative, carefully.",
    ]
    task = scripted_task(n_val=8, n_train=4)
    results = {}
    lm = load_model("smollm2")
    try:
        for penalty in (None, 0.0, 1.0):
            chosen = None if penalty is None else LengthObjective.for_target(penalty, "smollm2")
            results[penalty] = run_scripted(tmp_path / f"run-{penalty}", lm, prompts, task, objective=chosen)
    finally:
        lm.close()
    events = [json.loads(x) for x in (tmp_path / "run-0.0" / "events.jsonl").read_text().splitlines()]
    vals = {e["prompt"]: e["accuracy"] for e in events if e["kind"] == "validation"}
    tokens = {e["prompt"]: e["prompt_tokens"] for e in events if e["kind"] == "validation"}
    assert (
        tokens["Sentiment?"] < tokens[prompts[1]]
        and "counted with its tokenizer" in results[0.0]["selection"]["tokens"]
    )
    most_accurate = max(prompts, key=lambda p: (vals[p], -len(p)))
    assert results[None]["best_prompt"] == results[0.0]["best_prompt"] == most_accurate
    assert results[1.0]["best_prompt"] == "Sentiment?"  # one token costs more than any accuracy gain
    assert (tmp_path / "run-1.0" / "curve.png").is_file() and (tmp_path / "run-1.0" / PARETO_TABLE).is_file()


def test_a_comparison_passes_length_penalty_and_demos_to_every_trial():
    from promptflux.compare.spec import build_spec
    from promptflux.compare.trials import run_spec

    flags = {
        "tasks": ["sst2"],
        "methods": ["fixed"],
        "max_target_calls": 10,
        "length_penalty": 0.01,
        "demos": 2,
    }
    spec = build_spec({"demo_trials": 3}, flags, {}, "grid.yaml")
    trial = run_spec(spec, "sst2", "fixed", 0)
    assert (trial.length_penalty, trial.demos, trial.demo_trials) == (0.01, 2, 3)
