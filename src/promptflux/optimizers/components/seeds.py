"""Prompts found elsewhere, as a starting point for an off-policy method (GFlowPO's `seed_prompts`).

GFlowPO's objective is off-policy: any prompt with a known reward can train the policy. A seed source is
either another run folder (APE, GPO, OPRO, a human list scored as a `fixed` run …) or a text file with
one prompt per line. From a run folder every prompt it scored during its search (its `eval` events) and
every prompt it validated are taken, best first: validation accuracy, then training accuracy.

Seeds are then scored on this run's training split through the usual evaluator. The source run's
paid answers are first copied into this run's ledger under the role `imported`: the evaluator finds
them there like answers this run paid for (free, not sent), while the spend recounted from the ledger
(its target, optimizer and selection roles) leaves them out. A seeded run's budget therefore counts its
own new calls only, and the calls of the whole pipeline are the source's plus the seeded run's: to
compare it with unseeded methods at equal target calls, give the two parts budgets that add up to theirs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from promptflux.errors import ConfigError
from promptflux.evaluation.cache import OutputCache
from promptflux.optimizers.components.meta_prompt import clean_reference
from promptflux.runs.events import read_events
from promptflux.runs.folder import RunFolder
from promptflux.types import Role


@dataclass(frozen=True)
class SeedPrompts:
    """The seed texts, best first, and where they came from (for the run log)."""

    source: str
    texts: tuple[str, ...]
    imported_answers: int  # source-ledger answers copied into this run's ledger (role `imported`)


IMPORTED = "imported"  # the ledger role of answers another run paid for (not this run's spend)


def load_seed_prompts(source: str, limit: int, ledger: OutputCache | None = None) -> SeedPrompts:
    """Up to `limit` distinct one-line prompts from `source` (a run folder or a text file)."""
    path = Path(source)
    if path.is_dir():
        ranked = _ranked_from_run(path)
        imported = _import_answers(path, ledger)
    elif path.is_file():
        ranked = path.read_text(encoding="utf-8").splitlines()
        imported = 0
    else:
        raise ConfigError(
            f"seed_prompts: {source!r} is neither a run folder nor a text file (one prompt per line)"
        )
    texts = [t for t in dict.fromkeys(clean_reference(r) for r in ranked) if t]
    if not texts:
        raise ConfigError(f"seed_prompts: {source!r} holds no prompt")
    return SeedPrompts(source, tuple(texts[:limit]), imported)


def _ranked_from_run(folder: Path) -> list[str]:
    events = folder / RunFolder.EVENTS
    if not events.exists():
        raise ConfigError(f"seed_prompts: {folder} is not a run folder (no {RunFolder.EVENTS})")
    val: dict[str, float] = {}
    train: dict[str, float] = {}
    for event in read_events(events):
        if event.get("dropped"):  # raced out: a partial mean, not comparable with full scores
            continue
        if event.get("kind") == "validation":
            val[event["prompt"]] = max(val.get(event["prompt"], 0.0), event["accuracy"])
        elif event.get("kind") == "eval":
            train[event["prompt"]] = max(train.get(event["prompt"], 0.0), event["accuracy"])
    result = folder / RunFolder.RESULT
    if not result.exists():  # its log may still grow: seeds would depend on when this run started
        raise ConfigError(f"seed_prompts: {folder} has not finished (no {RunFolder.RESULT}); finish it first")
    chosen = json.loads(result.read_text())["prompts"]["chosen"]
    val.setdefault(chosen["prompt"], chosen["val"] if chosen["val"] is not None else 1.0)
    prompts = set(val) | set(train)
    return sorted(prompts, key=lambda p: (-val.get(p, -1.0), -train.get(p, -1.0), p))


def _import_answers(folder: Path, ledger: OutputCache | None) -> int:
    source_path = folder / RunFolder.LEDGER
    if ledger is None or not source_path.exists():
        return 0
    source = OutputCache(source_path, remedy="point seed_prompts at another run folder")
    try:
        answers = source.items(Role.TARGET)
    finally:
        source.close()
    ledger.put_many(answers, role=IMPORTED)  # INSERT OR IGNORE: a rebuild on resume changes nothing
    return len(answers)
