"""GFlowPO end to end on a tiny random model: a kill -9 mid-run, resumed, ends exactly like a clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptflux.runs import read_events

ROWS = [
    ("a wonderful, moving film", "positive"),
    ("great acting and a clever plot", "positive"),
    ("I loved every minute", "positive"),
    ("a triumph of style", "positive"),
    ("funny, warm and smart", "positive"),
    ("a dull, boring mess", "negative"),
    ("terrible acting and no plot", "negative"),
    ("I hated every minute", "negative"),
    ("a tedious waste of time", "negative"),
    ("clumsy, loud and empty", "negative"),
] * 3


@pytest.fixture()
def task_spec(tmp_path: Path) -> str:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in ROWS))
    spec = tmp_path / "reviews.yaml"
    spec.write_text(
        "file: reviews.csv\nsplits: {train: 8, dev: 8, test: 10}\ninput_column: text\n"
        "target_column: label\nlabels: [negative, positive]\n"
        'template: "{prompt}\\nReview: {input}\\nSentiment:"\n'
    )
    return f"custom:{spec}"


def optimize_cmd(task: str, run_dir: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "promptflux.cli", "optimize", "--task", task, "--preset", "quick",
        "--target", "tiny-random", "--prompt-lm", "tiny-random", "--cache", str(cache),
        "--run-dir", str(run_dir),
        "--set", "steps=8", "--set", "warmup_steps=2", "--set", "max_new_tokens=12",
    ]  # fmt: skip


def steps_logged(run_dir: Path) -> list[int]:
    return [e["step"] for e in read_events(run_dir / "events.jsonl", kind="step")]


@pytest.mark.slow
def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path, task_spec):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(optimize_cmd(task_spec, clean, tmp_path / "c1.sqlite"), check=True, timeout=600)

    proc = subprocess.Popen(
        optimize_cmd(task_spec, killed, tmp_path / "c2.sqlite"), stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while len(steps_logged(killed)) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    resume = [sys.executable, "-m", "promptflux.cli", "optimize", "--resume", str(killed)]
    subprocess.run([*resume, "--cache", str(tmp_path / "c2.sqlite")], check=True, timeout=600)

    assert steps_logged(killed) == list(range(8))  # every step exactly once, in order
    a = json.loads((clean / "result.json").read_text())
    b = json.loads((killed / "result.json").read_text())
    assert a["best_prompt"] == b["best_prompt"] and a["prompts"] == b["prompts"]
    for key in ("target_calls", "target_prompt_tokens", "optimizer_calls", "selection_calls"):
        assert a["budget"][key] == b["budget"][key], key  # nothing paid twice, nothing lost
    batches = [(e["step"], e["micro"]) for e in read_events(killed / "events.jsonl", kind="micro_batch")]
    assert len(batches) == len(set(batches))
    assert (killed / "curve.png").stat().st_size > 1000


@pytest.mark.slow
def test_gflowpo_with_the_real_embedded_model_runs_end_to_end(tmp_path, task_spec):
    """SmolLM2 as prompt-LM, prior and target: real instructions come out, and the run is complete."""
    cmd = optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite")
    cmd = [a.replace("tiny-random", "smollm2") for a in cmd]
    cmd[cmd.index("steps=8")] = "steps=3"
    cmd[cmd.index("warmup_steps=2")] = "warmup_steps=1"
    cmd[cmd.index("max_new_tokens=12")] = "max_new_tokens=24"
    subprocess.run(cmd, check=True, timeout=900)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["method"] == "gflowpo" and result["best_prompt"]
    assert set(result["prompts"]) >= {"chosen", "no instruction"}
    online = [e for e in read_events(tmp_path / "run" / "events.jsonl", kind="micro_batch") if e["online"]]
    assert result["budget"]["target_calls"] > 0
    assert result["budget"]["optimizer_calls"] == 4 * len(online) >= 4  # replayed batches sample nothing
    updates = [e for e in read_events(tmp_path / "run" / "events.jsonl", kind="step") if "loss" in e]
    assert len(updates) == 2 and all(e["loss"] >= 0 for e in updates)


@pytest.mark.slow
def test_a_hard_target_budget_stops_the_search_cleanly_with_a_result(tmp_path, task_spec):
    cmd = [*optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite"), "--max-calls", "40"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["stopped"] and "budget exhausted" in result["stopped"]
    assert result["budget"]["target_calls"] <= 40 and result["best_prompt"]
    assert "stopped early" in " ".join(out.stdout.split())  # rich wraps at 80 columns off a terminal
