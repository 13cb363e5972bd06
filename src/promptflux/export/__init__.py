"""`promptflux export RUN`: take the chosen prompt (or the K best) out of a finished run.

    OUT/ (default RUN/export/)          rank 1, the prompt the run chose on validation:
        prompt.txt                      the instruction, plain text
        prompt.json                     instruction, full template, target, val/test scores with
                                        intervals, run id, config digest (`load_export` reads it back)
        template.txt                    the target's input as a str.format template: {input}
        openai_client.py                a runnable OpenAI-client snippet (endpoint and key from the env)
    OUT/rank-2/ ... OUT/rank-K/         the same for the next candidates by validation (--top K)

A comparison folder exports each finished trial into its own folder (OUT/<task>/<label>/seed-<n>/, or
each trial's export/ without --out). Exporting reads the run folder only: no lock, no model, no write
there except the default export/ folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from promptflux.errors import ConfigError, StorageError
from promptflux.export.record import PromptExport, build_exports, format_template, load_export
from promptflux.export.snippet import openai_snippet

__all__ = [
    "ExportedRun",
    "PromptExport",
    "export_path",
    "format_template",
    "load_export",
    "openai_snippet",
]

FILES = ("prompt.txt", "prompt.json", "template.txt", "openai_client.py")
COMPARISON = "compare.yaml"


@dataclass(frozen=True)
class ExportedRun:
    run: Path
    out: Path
    prompts: list[PromptExport]  # by rank


def write_export(export: PromptExport, folder: Path) -> None:
    """The four files of one exported prompt into `folder`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "prompt.txt").write_text(export.instruction + "\n", encoding="utf-8")
        text = json.dumps(export.to_json(), indent=2, ensure_ascii=False) + "\n"
        (folder / "prompt.json").write_text(text, encoding="utf-8")
        (folder / "template.txt").write_text(export.template, encoding="utf-8")  # no added newline
        (folder / "openai_client.py").write_text(openai_snippet(export), encoding="utf-8")
    except OSError as e:
        raise StorageError(f"cannot write the export to {folder}: {e.strerror}") from None


def export_run(run: str | Path, out: str | Path | None = None, top: int = 1) -> ExportedRun:
    """Export the `top` best prompts of the finished run (or trial) folder `run` into `out`."""
    run = Path(run)
    out = Path(out) if out is not None else run / "export"
    prompts = build_exports(run, top)
    for export in prompts:
        write_export(export, out if export.rank == 1 else out / f"rank-{export.rank}")
    return ExportedRun(run, out, prompts)


def export_path(path: str | Path, out: str | Path | None = None, top: int = 1) -> list[ExportedRun]:
    """A run or trial folder (one export), or a comparison folder (one per finished trial)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder; give a run folder, a trial folder or a comparison folder")
    if not (path / COMPARISON).is_file():
        return [export_run(path, out, top)]
    from promptflux.compare.trials import TRIALS

    trials = sorted(p.parent for p in (path / TRIALS).glob("*/*/seed-*/result.json"))
    if not trials:
        raise ConfigError(f"comparison {path} has no finished trial to export yet")
    root = Path(out) if out is not None else None
    return [
        export_run(trial, None if root is None else root / trial.relative_to(path / TRIALS), top)
        for trial in trials
    ]
