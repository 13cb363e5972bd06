"""`promptflux compare` end to end on the tiny random target: report files, rerun skips, resume after a
failure, parallel processes, and (slow) Ray.

In-process runs (--jobs 1) may use the monkeypatched tagging optimiser; subprocess and Ray runs use only
real registry specs (tiny-random) and methods that need no optimiser LLM (fixed, sampling).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptflux.cli import app
from promptflux.errors import ConfigError
from promptflux.evaluation import OutputCache
from promptflux.optimizers import context
from promptflux.optimizers.opro import OPROMethod
from promptflux.runs import read_events
from tests.optimizers.fakes import TaggingModel, review_task_spec

REPLIES = ["Judge the sentiment.", "Read the mood."]


@pytest.fixture()
def task(tmp_path: Path) -> str:
    return review_task_spec(tmp_path, "{train: 8, dev: 6, test: 10}", copies=3)


@pytest.fixture()
def tagging(monkeypatch):
    """The optimiser spec "tagging" loads a TaggingModel (in this process only)."""
    real = context.load_model
    monkeypatch.setattr(
        context, "load_model", lambda s, o: TaggingModel(REPLIES) if s == "tagging" else real(s, o)
    )


def compare(*args: str):
    result = CliRunner().invoke(app, ["compare", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def files(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def steps(run: Path) -> list[int]:
    return [e["step"] for e in read_events(run / "events.jsonl", kind="step")]


def test_a_grid_runs_reports_skips_finished_trials_and_resumes_a_failed_one(
    tmp_path, task, tagging, monkeypatch
):
    out, cache = tmp_path / "cmp", tmp_path / "cache.sqlite"
    grid = [
        "--tasks", task, "--methods", "fixed,opro", "--seeds", "0,1", "--max-calls", "100",
        "--preset", "quick", "--target", "tiny-random", "--optimizer-model", "tagging", "--jobs", "1",
        "--cache", str(cache),
    ]  # fmt: skip
    first = compare(*grid, "--out", str(out))
    assert first.exit_code == 0, first.output
    for name in ("table.md", "summary.json", "curves.png", "report.html", "compare.yaml"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    rows = {m["label"]: m for m in summary["tasks"][0]["methods"]}
    assert rows["fixed"]["finished"] == rows["opro"]["finished"] == 2
    assert rows["fixed"]["note"] == "used 0 of 100 target calls (finished its 0 steps)"
    assert re.fullmatch(r"used \d+ of 100 target calls \(finished its 3 steps\)", rows["opro"]["note"])
    assert {t["prompt"] for t in rows["opro"]["trials"]} <= {"", *REPLIES}
    trials = out / "trials" / "custom-reviews"
    assert sorted(p.name for p in (trials / "opro").iterdir()) == ["seed-0", "seed-1"]
    assert "fixed" in (out / "table.md").read_text()

    # A rerun with only --out (the grid comes from compare.yaml) touches no trial and calls no model.
    before, cached = files(trials), len(OutputCache(cache))
    again = compare("--out", str(out))
    assert again.exit_code == 0 and "4 already finished, 0 to run" in again.output
    assert files(trials) == before and len(OutputCache(cache)) == cached

    # A third seed whose opro trial fails once at step 1: recorded, the others finish, exit code 1.
    real_step, failed = OPROMethod.step, []

    def flaky(self, step):
        if self.config.seed == 2 and step == 1 and not failed:
            failed.append(step)
            raise RuntimeError("flaky step")
        return real_step(self, step)

    monkeypatch.setattr(OPROMethod, "step", flaky)
    grown = compare(*grid, "--seeds", "0,1,2", "--out", str(out))
    assert grown.exit_code == 1 and "RuntimeError: flaky step" in grown.output
    broken = trials / "opro" / "seed-2"
    assert (broken / "error.txt").read_text().startswith("RuntimeError: flaky step\n")
    assert (trials / "fixed" / "seed-2" / "result.json").exists() and not (broken / "result.json").exists()
    assert steps(broken) == [0]
    summary = json.loads((out / "summary.json").read_text())
    opro = summary["tasks"][0]["methods"][1]
    assert opro["failed"] == 1 and "seed 2 failed: RuntimeError: flaky step" in opro["note"]
    assert "flaky step" in (out / "report.html").read_text()

    # The rerun resumes it from its checkpoint (steps 1 and 2 only); a trial whose result.json was lost
    # is resumed too and ends the same.
    fixed_result = json.loads((trials / "fixed" / "seed-0" / "result.json").read_text())
    (trials / "fixed" / "seed-0" / "result.json").unlink()
    resumed = compare("--out", str(out))
    assert resumed.exit_code == 0, resumed.output
    assert "4 already finished, 2 to run" in resumed.output
    assert steps(broken) == [0, 1, 2] and not (broken / "error.txt").exists()
    a = json.loads((trials / "opro" / "seed-0" / "result.json").read_text())
    b = json.loads((broken / "result.json").read_text())
    assert a["budget"]["target_calls"] == b["budget"]["target_calls"]  # nothing paid twice
    assert (
        json.loads((trials / "fixed" / "seed-0" / "result.json").read_text())["prompts"]
        == fixed_result["prompts"]
    )
    assert json.loads((out / "summary.json").read_text())["trials"]["finished"] == 6

    report = compare("--out", str(out), "--report-only")
    assert report.exit_code == 0 and (out / "report.html").exists()


def test_a_changed_budget_on_the_same_folder_is_refused(tmp_path, task, tagging):
    out = tmp_path / "cmp"
    args = [
        "--tasks",
        task,
        "--methods",
        "fixed",
        "--target",
        "tiny-random",
        "--jobs",
        "1",
        "--out",
        str(out),
    ]
    assert compare(*args, "--max-calls", "10", "--cache", str(tmp_path / "c.sqlite")).exit_code == 0
    with pytest.raises(
        ConfigError, match="was run with max_target_calls=10 but the comparison now asks for 20"
    ):
        compare(*args, "--max-calls", "20")


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "promptflux.cli", "compare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def real_grid(task: str, out: Path, cache: Path) -> list[str]:
    """fixed and sampling with the tiny random model: nothing that a fake has to stand in for."""
    return [
        "--tasks", task, "--methods", "fixed,sampling", "--seeds", "0,1", "--max-calls", "60",
        "--preset", "quick", "--set", "sampling.max_new_tokens=12", "--target", "tiny-random",
        "--prompt-lm", "tiny-random", "--test-examples", "4", "--out", str(out), "--cache", str(cache),
    ]  # fmt: skip


def results(out: Path) -> dict[str, dict]:
    """Each trial's result.json without its wall time (which no two runs share)."""
    found = {}
    for path in sorted(out.glob("trials/*/*/seed-*/result.json")):
        result = json.loads(path.read_text())
        del result["budget"]["wall_seconds"]
        found[str(path.parent.relative_to(out))] = result
    return found


def test_trials_run_in_parallel_processes(tmp_path, task):
    out = tmp_path / "cmp"
    done = cli(*real_grid(task, out, tmp_path / "c.sqlite"), "--jobs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    found = results(out)
    assert len(found) == 4
    assert {row["test_n"] for r in found.values() for row in r["prompts"].values()} == {4}
    summary = json.loads((out / "summary.json").read_text())
    rows = {m["label"]: m for m in summary["tasks"][0]["methods"]}
    assert rows["fixed"]["note"] == "used 0 of 60 target calls (finished its 0 steps)"
    assert rows["sampling"]["finished"] == 2 and rows["sampling"]["note"]
    assert "sampling" in done.stdout and "report.html" in done.stdout
    assert (out / "curves.png").stat().st_size > 5000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tasks", "sst2", "--methods", "fixed"), "max_target_calls: required"),
        (("--tasks", "sst3", "--methods", "fixed", "--max-calls", "5"), "did you mean 'sst2'?"),
        (("--tasks", "sst2", "--methods", "dspy", "--max-calls", "5"), "unknown method 'dspy'"),
        (("--out", "/no/such/cmp", "--report-only"), "holds no comparison"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    out = cli(*args) if "--out" in args else cli(*args, "--out", str(tmp_path / "cmp"))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.slow
def test_trials_on_a_local_ray_instance_match_the_local_path(tmp_path, task):
    on_ray = cli(
        *real_grid(task, tmp_path / "ray", tmp_path / "c1.sqlite"), "--ray", "--jobs", "2", timeout=900
    )
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "4 to run on Ray" in on_ray.stderr
    local = cli(*real_grid(task, tmp_path / "local", tmp_path / "c2.sqlite"), "--jobs", "1")
    assert local.returncode == 0, local.stderr[-3000:]
    assert results(tmp_path / "ray") == results(tmp_path / "local") and len(results(tmp_path / "ray")) == 4
    a = json.loads((tmp_path / "ray" / "summary.json").read_text())
    b = json.loads((tmp_path / "local" / "summary.json").read_text())
    assert [[m["label"], m["finished"], m["note"]] for t in a["tasks"] for m in t["methods"]] == [
        [m["label"], m["finished"], m["note"]] for t in b["tasks"] for m in t["methods"]
    ]
