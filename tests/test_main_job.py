"""The README's main job, as written there: GPO on ii/first_word_letter with the default models.

It must end with a readable instruction whose test interval lies above no instruction's. This is the
promise a new user's first run checks, so it runs for real (slow: about 5-10 minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def main_command() -> list[str]:
    """The `promptflux optimize ...` part of the README's main-job line."""
    text = README.read_text()
    line = next(ln for ln in text.splitlines() if "scripts/install.sh && .venv/bin/promptflux optimize" in ln)
    return line.split("&& .venv/bin/promptflux ", 1)[1].split()


@pytest.mark.slow
def test_the_readme_main_job_finds_a_readable_instruction_that_beats_no_instruction(tmp_path):
    args = main_command()
    assert args[0] == "optimize" and "--method" in args
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "promptflux.cli", *args, "--run-dir", str(run_dir)]
    cmd += ["--cache", str(tmp_path / "cache.sqlite")]  # a cold cache: the real cost, no stored answers
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    print(done.stdout[-3000:], done.stderr[-2000:])
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((run_dir / "result.json").read_text())
    chosen, none = result["prompts"]["chosen"], result["prompts"]["no instruction"]
    words = re.findall(r"[A-Za-z]+", chosen["prompt"])
    assert len(words) >= 3, chosen["prompt"]  # an instruction, not a token soup
    assert chosen["test_ci95"][0] > none["test_ci95"][1], (chosen, none)  # intervals do not overlap
    assert "human instruction" in result["prompts"]  # the benchmark's own instruction is reported
    assert "chosen" in done.stdout and "no instruction" in done.stdout and "human instruction" in done.stdout
