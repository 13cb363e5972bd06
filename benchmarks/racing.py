"""Racing off versus on (issue 15, item 1): target calls saved, and what it costs in test accuracy.

For each task and seed, one method runs twice with identical settings, `racing: false` then `racing:
true` (blocks of `--race-block` examples, paired t-test at `--race-alpha`); both select on validation
and score the test split once, as every run does. Every figure is read from the runs' result.json:

    search calls       target calls of the search (what `--max-calls` would bound)
    selection calls    validation and test scoring (racing also races validation)
    saved              1 - raced / plain, per seed and over the sums
    test accuracy      the chosen prompt's, with its 95% Wilson interval; across seeds the mean with a
                       95% Student-t interval

Both runs share one output cache: the calls each run is charged are those a cold run would make (the
ledger charges a shared-cache hit like a sent call), while the second run of a pair is faster in wall
time than a cold one would be; the minutes printed are therefore not a fair speed comparison.
Each run is a run folder under --out: rerunning the same command skips finished runs and resumes an
interrupted one (`--report` only re-reads them).

    python benchmarks/racing.py --out runs/racing                      # OPRO quick, ii/antonyms, 3 seeds
    python benchmarks/racing.py --out /tmp/r --tasks sst2 --seeds 0 --target smollm2 \\
        --optimizer-model smollm2 --set steps=1 --set candidates_per_step=2 --set accept_unterminated=true \\
        --test-examples 16                                               # a smoke run (~2 minutes)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from promptflux.compare.stats import mean_t_ci95
from promptflux.evaluation import OutputCache
from promptflux.models.defaults import DEFAULT_OPTIMIZER, DEFAULT_TARGET
from promptflux.recipe import make_spec, run
from promptflux.recipe.config import parse_sets

MODES = {"plain": {"racing": False}, "raced": {"racing": True}}


def run_one(folder: Path, spec_args: dict[str, Any], cache: OutputCache) -> tuple[dict[str, Any], float]:
    """Run (or resume, or re-read) one run folder; returns its result and the seconds this call took."""
    start = time.monotonic()
    if (folder / "config.yaml").exists():
        result = run(None, folder, resume=True, cache=cache)
    else:
        result = run(make_spec(**spec_args), folder, cache=cache)
    return result, time.monotonic() - start


def row(task: str, seed: int, mode: str, result: dict[str, Any], seconds: float) -> dict[str, Any]:
    chosen = result["prompts"]["chosen"]
    return {
        "task": task,
        "seed": seed,
        "mode": mode,
        "chosen": chosen["prompt"],
        "val": chosen["val"],
        "test": chosen["test"],
        "test_ci95": chosen["test_ci95"],
        "test_n": chosen["test_n"],
        "search_calls": result["budget"]["target_calls"],
        "selection_calls": result["budget"]["selection_calls"],
        "raced_out": result.get("raced_out"),
        "seconds": round(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--method", default="opro", help="A method with racing knobs (gpo, ape, opro, ...).")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--tasks", default="ii/antonyms", help="Comma-separated task names.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", default=DEFAULT_TARGET)
    parser.add_argument("--optimizer-model", default=DEFAULT_OPTIMIZER)
    parser.add_argument("--race-block", type=int, default=8)
    parser.add_argument("--race-alpha", type=float, default=0.05)
    parser.add_argument("--test-examples", type=int, default=None, help="Fixed test subsample (all: None).")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="key=value, both modes.")
    parser.add_argument("--report", action="store_true", help="Only print summary.json of --out.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / "summary.json"
    if args.report:
        print_table(json.loads(summary.read_text()))
        return
    overrides = parse_sets(args.sets)
    race = {"race_block": args.race_block, "race_alpha": args.race_alpha}
    rows = []
    cache = OutputCache(args.out / "cache.sqlite")
    try:
        for task in args.tasks.split(","):
            for seed in args.seeds:
                for mode, knobs in MODES.items():
                    spec_args = {
                        "method": args.method,
                        "preset": args.preset,
                        "overrides": {**overrides, **knobs, **race, "seed": seed},
                        "task": task,
                        "target": args.target,
                        "optimizer_model": args.optimizer_model,
                        "test_examples": args.test_examples,
                    }
                    folder = args.out / task.replace("/", "_") / f"seed-{seed}" / mode
                    result, seconds = run_one(folder, spec_args, cache)
                    rows.append(row(task, seed, mode, result, seconds))
                    summary.write_text(json.dumps(rows, indent=1))
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        cache.close()
    print_table(rows)


def print_table(rows: list[dict[str, Any]]) -> None:
    by = {(r["task"], r["seed"], r["mode"]): r for r in rows}
    print(
        "\n| task | seed | mode | search calls | selection calls | raced out | val | test [95% CI] | "
        "minutes |\n|---|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        low, high = r["test_ci95"]
        print(
            f"| {r['task']} | {r['seed']} | {r['mode']} | {r['search_calls']} | {r['selection_calls']} | "
            f"{r['raced_out'] if r['raced_out'] is not None else '-'} | {r['val']:.3f} | "
            f"{r['test']:.3f} [{low:.3f}, {high:.3f}] | {r['seconds'] / 60:.1f} |"
        )
    for task in dict.fromkeys(r["task"] for r in rows):
        pairs = [(by[k], by[(k[0], k[1], "raced")]) for k in by if k[0] == task and k[2] == "plain"]
        pairs = [(p, q) for p, q in pairs if q is not None]
        if not pairs:
            continue
        print(f"\n{task}: {len(pairs)} seed(s)")
        for key in ("search_calls", "selection_calls"):
            plain, raced = sum(p[key] for p, _ in pairs), sum(q[key] for _, q in pairs)
            per_seed = ", ".join(f"{1 - q[key] / p[key]:.0%}" if p[key] else "-" for p, q in pairs)
            saved = 1 - raced / plain if plain else float("nan")
            print(f"  {key}: plain {plain}, raced {raced}: saved {saved:.0%} (per seed: {per_seed})")
        for mode, index in (("plain", 0), ("raced", 1)):
            mean, half = t_interval([pair[index]["test"] for pair in pairs])
            print(f"  test accuracy, {mode}: {mean:.3f} ± {half:.3f} (95% Student-t over seeds)")


def t_interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% Student-t interval (NaN for one value)."""
    mean, half = mean_t_ci95(values)
    return mean, float("nan") if half is None else half


if __name__ == "__main__":
    main()
