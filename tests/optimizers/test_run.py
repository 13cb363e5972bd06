"""Methods end to end through the CLI: kill -9 and resume, the real embedded model, the llama.cpp server.

A kill -9 mid-run, resumed, must end exactly like a clean run (tiny random model, every method).
"""

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
from tests.optimizers.fakes import review_task_spec


@pytest.fixture()
def task_spec(tmp_path: Path) -> str:
    return review_task_spec(tmp_path, "{train: 8, dev: 8, test: 10}", copies=3)


QUICK_SETS = {
    "gflowpo": ("steps=8", "warmup_steps=2", "max_new_tokens=12"),
    "gpo": ("steps=6", "candidates=2", "max_new_tokens=12"),
    "sampling": ("steps=6", "max_new_tokens=12"),
}
MODEL_FLAG = {"gflowpo": "--prompt-lm", "gpo": "--optimizer-model", "sampling": "--prompt-lm"}
MODEL_FLAG |= dict.fromkeys(("ape", "opro", "protegi", "evoprompt"), "--optimizer-model")


def optimize_cmd(
    task: str, run_dir: Path, cache: Path, method: str = "gflowpo", model: str = "tiny-random", *sets: str
) -> list[str]:
    cmd = [
        sys.executable, "-m", "promptflux.cli", "optimize", "--method", method, "--task", task,
        "--preset", "quick", "--target", model, MODEL_FLAG[method], model, "--cache", str(cache),
        "--run-dir", str(run_dir),
    ]  # fmt: skip
    for item in sets or QUICK_SETS[method]:
        cmd += ["--set", item]
    return cmd


def steps_logged(run_dir: Path) -> list[int]:
    return [e["step"] for e in read_events(run_dir / "events.jsonl", kind="step")]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gflowpo", "gpo"])
def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path, task_spec, method):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(optimize_cmd(task_spec, clean, tmp_path / "c1.sqlite", method), check=True, timeout=600)
    total = len(steps_logged(clean))

    proc = subprocess.Popen(
        optimize_cmd(task_spec, killed, tmp_path / "c2.sqlite", method), stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while len(steps_logged(killed)) < total // 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    resume = [sys.executable, "-m", "promptflux.cli", "optimize", "--resume", str(killed)]
    subprocess.run([*resume, "--cache", str(tmp_path / "c2.sqlite")], check=True, timeout=600)

    assert steps_logged(killed) == list(range(total))  # every step exactly once, in order
    a = json.loads((clean / "result.json").read_text())
    b = json.loads((killed / "result.json").read_text())
    assert a["best_prompt"] == b["best_prompt"] and a["prompts"] == b["prompts"]
    for key in ("target_calls", "target_prompt_tokens", "optimizer_calls", "selection_calls"):
        assert a["budget"][key] == b["budget"][key], key  # nothing paid twice, nothing lost
    kind = {"gflowpo": "micro_batch", "gpo": "gpo_step"}[method]
    logged = [(e["step"], e.get("micro")) for e in read_events(killed / "events.jsonl", kind=kind)]
    assert len(logged) == len(set(logged)) > 0
    assert (killed / "curve.png").stat().st_size > 1000


@pytest.mark.slow
def test_gflowpo_with_the_real_embedded_model_runs_end_to_end(tmp_path, task_spec):
    """SmolLM2 as prompt-LM, prior and target: real instructions come out, and the run is complete."""
    sets = ("steps=3", "warmup_steps=1", "max_new_tokens=24")
    cmd = optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite", "gflowpo", "smollm2", *sets)
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


def gpo_slots(run_dir: Path) -> list[dict]:
    return [s for e in read_events(run_dir / "events.jsonl", kind="gpo_step") for s in e["slots"]]


def gpo_start_attempts(run_dir: Path) -> int:
    """Optimiser calls of the induced start (the quick preset's `start="induced"`), before step 0's slots."""
    return sum(
        s["attempts"] for e in read_events(run_dir / "events.jsonl", kind="gpo_start") for s in e["slots"]
    )


@pytest.mark.slow
def test_gpo_with_the_real_embedded_model_runs_end_to_end(tmp_path, task_spec):
    """SmolLM2 as optimiser and target through the HF backend: every reply is parsed, measured, logged."""
    sets = ("steps=2", "candidates=3", "max_new_tokens=64")
    cmd = optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite", "gpo", "smollm2", *sets)
    subprocess.run(cmd, check=True, timeout=900)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["method"] == "gpo" and result["best_prompt"]
    assert set(result["prompts"]) == {"chosen", "no instruction", "initial prompt"}
    slots = gpo_slots(tmp_path / "run")
    assert len(slots) == 2 * 3
    starts = gpo_start_attempts(tmp_path / "run")
    assert starts >= 3  # one induction request per candidate, at least
    assert result["budget"]["optimizer_calls"] == starts + sum(s["attempts"] for s in slots)
    for s in slots:  # a usable prompt, or a reason it was dropped; distances for every parsed reply
        assert (s["prompt"] is None) == (s["dropped"] is not None)
        assert len(s["distances"]) + len(s["parse_failures"]) == s["attempts"]


@pytest.mark.slow
def test_gpo_with_the_optimiser_behind_the_real_llama_cpp_server(tmp_path, task_spec):
    """The optimiser LLM through the OpenAI-compatible backend, against a real local server."""
    from promptflux.errors import ConfigError
    from promptflux.models.embedded import EMBEDDED
    from promptflux.models.llamacpp_server import require_server_installed

    try:
        require_server_installed()
    except ConfigError as e:
        pytest.skip(str(e))
    sets = ("steps=2", "candidates=3", "max_new_tokens=64")
    cmd = optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite", "gpo", "smollm2", *sets)
    cmd[cmd.index("--optimizer-model") + 1] = f"llamacpp:{EMBEDDED['smollm2'].gguf_path()}"
    subprocess.run(cmd, check=True, timeout=900)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["method"] == "gpo" and result["best_prompt"]
    slots = gpo_slots(tmp_path / "run")
    starts = gpo_start_attempts(tmp_path / "run")
    assert result["budget"]["optimizer_calls"] == starts + sum(s["attempts"] for s in slots) >= 6 + 3
    assert result["budget"]["optimizer_completion_tokens"] > 0


@pytest.mark.slow
def test_untrained_sampling_with_the_real_embedded_model(tmp_path, task_spec):
    sets = ("steps=2", "samples_per_step=3", "max_new_tokens=24")
    cmd = optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite", "sampling", "smollm2", *sets)
    subprocess.run(cmd, check=True, timeout=900)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["method"] == "sampling" and result["budget"]["optimizer_calls"] == 6
    scored = list(read_events(tmp_path / "run" / "events.jsonl", kind="eval"))
    assert scored and all(e["split"] == "train" for e in scored)


# SmolLM2-135M rarely closes the <START> tag it is pre-filled with: take the first line of such replies,
# as a user with a small local optimiser would, so that the real model's candidates reach the target.
BASELINE_SETS = {
    "ape": ("num_candidates=4", "max_new_tokens=32", "keep=2", "first_subset=4"),
    "opro": ("steps=2", "candidates_per_step=3", "max_new_tokens=32"),
    "protegi": ("steps=1", "num_gradients=1", "mc_paraphrases=1", "max_new_tokens=48", "pulls_per_step=8"),
    "evoprompt": ("population=3", "generations=1", "max_new_tokens=32"),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("ape", ()),
        ("opro", ()),
        ("protegi", ()),
        ("evoprompt", ("variant=ga",)),
        ("evoprompt", ("variant=de",)),
    ],
)
def test_llm_optimiser_baselines_with_the_real_embedded_model(tmp_path, task_spec, method, extra):
    """SmolLM2 as optimiser and target: real replies are parsed into prompts that the target scores."""
    sets = (*BASELINE_SETS[method], *extra, "accept_unterminated=true", "parse_retries=1")
    if method == "protegi":  # textual gradients explain errors: a task the real model gets wrong
        task_spec = review_task_spec(tmp_path, "{train: 8, dev: 8, test: 10}", copies=3, flipped=True)
    cmd = optimize_cmd(task_spec, tmp_path / "run", tmp_path / "c.sqlite", method, "smollm2", *sets)
    subprocess.run(cmd, check=True, timeout=900)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["method"] == method and result["stopped"] is None
    steps = list(read_events(tmp_path / "run" / "events.jsonl", kind="step"))
    assert result["budget"]["optimizer_calls"] == sum(e.get("optimizer_requests", 0) for e in steps) > 0
    assert sum(e.get("new_prompts", 0) for e in steps) > 0  # the real model's replies became prompts
    validated = {e["prompt"] for e in read_events(tmp_path / "run" / "events.jsonl", kind="validation")}
    assert validated - {"", result["prompts"].get("initial prompt", {}).get("prompt")}, (
        "no proposal validated"
    )
