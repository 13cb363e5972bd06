"""A behaviour fingerprint of every registered method: short fixed-seed runs, digested.

Each case runs one method through the recipe (tiny random target and prompt-LM; a hash-tagging
optimiser LLM whose replies always parse, so proposals reach the target) into a fresh run folder with
a fresh cache, then digests what the run wrote: every event in order with its wall-clock fields
removed (`time`, `wall_seconds`, `elapsed`) and floats rounded to 6 significant digits, and the
result (chosen prompt, every row, budget counters). Two code versions that behave the same give the
same digest for every case; `tests/optimizers/test_fingerprint.py` pins them, and

    python scripts/method_fingerprint.py [--out DIR]

prints them (and writes the normalised events of each case to DIR, for a diff when one changes).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TAGGED = [f"Judge the sentiment of the review, way {i}." for i in range(12)] + ["", "Say positive."]
WALL_CLOCK = {"time", "wall_seconds", "elapsed"}

# name -> (method, overrides of its quick preset). Small, but every phase of every method runs.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "fixed": ("fixed", {"instruction": "Classify the review."}),
    "sampling": ("sampling", {"steps": 2, "samples_per_step": 3, "max_new_tokens": 8}),
    "gflowpo": (
        "gflowpo",
        {"steps": 4, "warmup_steps": 1, "micro_batch_size": 3, "grad_accumulation": 2, "max_new_tokens": 8},
    ),
    "ppo": ("ppo", {"steps": 2, "samples_per_step": 3, "micro_batch_size": 2, "max_new_tokens": 8}),
    "gpo": ("gpo", {"steps": 2, "candidates": 2, "retrieval": "recency"}),
    "gpo-reflect": (
        "gpo",
        {"steps": 2, "candidates": 2, "retrieval": "summarization", "direction": "prompt_score_reflection"},
    ),
    "ape-halving": ("ape", {"num_candidates": 4}),
    "ape-ucb": ("ape", {"num_candidates": 4, "ranking": "ucb", "resample_rounds": 1}),
    "opro": ("opro", {"steps": 2, "candidates_per_step": 3}),
    "protegi": ("protegi", {"steps": 2, "pulls_per_step": 8}),
    "protegi-sr": ("protegi", {"steps": 1, "selection": "successive_rejects", "pulls_per_step": 12}),
    "evoprompt-ga": ("evoprompt", {"population": 3, "generations": 2}),
    "evoprompt-de": ("evoprompt", {"population": 3, "generations": 2, "variant": "de"}),
}


def hash_tagger() -> Any:
    """An optimiser LLM whose reply is a tagged prompt chosen by a hash of the whole request."""
    from tests.optimizers.fakes import HashTagger

    return HashTagger(TAGGED)


def normalise(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in WALL_CLOCK}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def run_case(name: str, folder: Path) -> dict[str, Any]:
    """Run one case into `folder`; returns {"events": [...], "result": {...}}, normalised."""
    from promptflux import recipe
    from promptflux.evaluation import OutputCache
    from promptflux.optimizers import context
    from promptflux.runs import read_events
    from tests.optimizers.fakes import review_task_spec

    method, overrides = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    real_load = context.load_model
    context.load_model = lambda spec, opts: hash_tagger() if spec == "tagging" else real_load(spec, opts)
    try:
        spec = recipe.make_spec(
            method,
            "quick",
            overrides,
            task=review_task_spec(folder, "{train: 6, dev: 4, test: 4}", copies=2),
            target="tiny-random",
            optimizer_model="tagging",
            prompt_lm="tiny-random",
        )
        cache = OutputCache(folder / "cache.sqlite")
        try:
            result = recipe.run(spec, folder / "run", cache=cache)
        finally:
            cache.close()
    finally:
        context.load_model = real_load
    events = list(read_events(folder / "run" / "events.jsonl"))
    return {"events": normalise(events), "result": normalise(result)}


def digest(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprints(names: Sequence[str] = tuple(CASES), out: Path | None = None) -> dict[str, str]:
    """The digest of each case; with `out`, each case's normalised record is written as out/<name>.json."""
    digests = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            record = run_case(name, Path(tmp) / name)
            digests[name] = digest(record)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                text = json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False)
                (out / f"{name}.json").write_text(text)
    return digests
