"""Shared pieces of the fault-injection suite: a quick OPRO run through the recipe (tiny random target,
a scripted tagging optimiser), interrupted after any step, and the CLI run in-process as a user runs it.

Every test here damages one thing (a file of the run folder, a flag, the disk, the server) and asserts
either a one-line error that leaves the run folder as it was, or an exact recovery with the budget
counters intact.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptflux import recipe
from promptflux.evaluation import OutputCache
from promptflux.runs import read_events
from tests.optimizers.fakes import HashTagger, review_task_spec

PROMPTS = [f"Judge the sentiment, way {i}." for i in range(40)]
STEPS = 4


class Interrupted(Exception):
    """Stands in for a kill after a step's checkpoint (raised from on_step)."""


def patch_tagging(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tagging` as a model spec: a HashTagger over PROMPTS (other specs load as usual)."""
    from promptflux.optimizers import context

    real = context.load_model
    monkeypatch.setattr(
        context,
        "load_model",
        lambda spec, options: HashTagger(PROMPTS) if spec == "tagging" else real(spec, options),
    )


@pytest.fixture()
def tagging(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_tagging(monkeypatch)


SPLITS = "{train: 6, dev: 4, test: 4}"


@pytest.fixture()
def task(tmp_path: Path) -> str:
    return review_task_spec(tmp_path, SPLITS, copies=2)


def spec(task: str, **fields: Any) -> recipe.RunSpec:
    overrides = {"steps": STEPS, **fields.pop("overrides", {})}
    return recipe.make_spec(
        "opro", "quick", overrides, task=task, target="tiny-random", optimizer_model="tagging", **fields
    )


def quick_run(
    folder: Path,
    task: str | None = None,
    *,
    stop_after: int | None = None,
    resume: bool = False,
    changes: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any] | None:
    """Run (or resume) a quick OPRO run in `folder`; `stop_after=k` interrupts it after step k's
    checkpoint (returns None). The shared cache is per folder, so every answer is paid for once."""

    def on_step(step: int, summary: dict[str, Any]) -> None:
        if stop_after is not None and step >= stop_after:
            raise Interrupted

    cache = OutputCache(folder.parent / f"{folder.name}-cache.sqlite")
    try:
        return recipe.run(
            None if resume else spec(task, **fields),
            folder,
            resume=resume,
            changes=changes,
            cache=cache,
            on_step=on_step,
        )
    except Interrupted:
        return None
    finally:
        cache.close()


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The result of an uninterrupted run (same task content as `task`): what every recovery must
    end with. Run once per session."""
    folder = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_tagging(monkeypatch)
        return quick_run(folder / "run", review_task_spec(folder, SPLITS, copies=2))


def steps(folder: Path) -> list[int]:
    return [e["step"] for e in read_events(folder / "events.jsonl", kind="step")]


def same_outcome(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same choice, same scores, same spend (wall time aside)."""
    assert a["best_prompt"] == b["best_prompt"] and a["prompts"] == b["prompts"]
    for key in a["budget"]:
        if key != "wall_seconds":
            assert a["budget"][key] == b["budget"][key], key


def digest(*paths: Path) -> list[str]:
    """Content hashes (or None for a missing file): to assert a refused run wrote nothing."""
    return [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "missing" for p in paths]


def run_files(folder: Path) -> list[Path]:
    names = ("config.yaml", "events.jsonl", "ledger.sqlite", "result.json", "checkpoint/state.json")
    return [folder / n for n in names]


def one_line(text: str) -> str:
    """The single line of an error message (click's boxed usage errors flattened); fails otherwise."""
    assert "Traceback" not in text, text
    flat = re.sub(r"[\u2500-\u257f]", " ", text)  # box-drawing characters of click/typer's panels
    lines = [" ".join(line.split()) for line in flat.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error:", "Invalid value", "Error"))]
    assert errors, text
    return " ".join(lines)


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """Run `promptflux <args>` in this process through `main()`: returns (exit code, stderr)."""
    from promptflux.cli import main

    monkeypatch.setenv("COLUMNS", "400")  # no wrapped error lines

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["promptflux", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return code, capsys.readouterr().err

    return run


def events_bytes(folder: Path) -> bytes:
    return (folder / "events.jsonl").read_bytes()


def result_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "result.json").read_text())
