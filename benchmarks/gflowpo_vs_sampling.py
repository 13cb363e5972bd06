"""GFlowPO versus best-of-N untrained prompt-LM samples and no instruction, over seeds (issue 3, benchmark 2).

For each seed (a data seed of the 16-shot split and a method seed):
  1. GFlowPO with SmolLM2 as prompt-LM, prior and target, at the budget below;
  2. `sampling` — the same policy, meta-prompt, temperatures and top-p with the adapter never trained,
     drawing exactly as many prompts as GFlowPO's policy drew in (1);
  3. both select on the validation split the same way and score the test split once.
Every figure is read from the two runs' result.json and event logs; nothing is recomputed here.

    python benchmarks/gflowpo_vs_sampling.py --out /tmp/bench2 [--seeds 13 21 42] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from promptflux.evaluation import OutputCache
from promptflux.recipe import make_spec, run
from promptflux.runs import read_events


def gflowpo_overrides(steps: int, seed: int) -> dict:
    """Quick-preset shape, scaled to `steps`: 20% warm-up, 2 micro-batches of 4 per update."""
    warmup = max(1, steps // 5)
    return dict(
        steps=steps,
        warmup_steps=warmup,
        grad_accumulation=2,
        dmu_start_delay=max(1, (steps - warmup) // 5),
        dmu_refresh_every=max(1, steps // 6),
        seed=seed,
    )


def run_pair(out: Path, data_seed: int, seed: int, steps: int, cache: OutputCache) -> dict:
    common = dict(task="sst2", data_seed=data_seed, target="smollm2", prompt_lm="smollm2")
    start = time.monotonic()
    g_dir = out / f"gflowpo-{data_seed}"
    g = run(make_spec("gflowpo", "quick", gflowpo_overrides(steps, seed), **common), g_dir, cache=cache)
    g_seconds = time.monotonic() - start
    drawn = g["budget"]["optimizer_calls"]  # prompts the policy sampled (replays draw none)
    per_step = 4
    start = time.monotonic()
    s_overrides = dict(steps=math.ceil(drawn / per_step), samples_per_step=per_step, seed=seed)
    s_dir = out / f"sampling-{data_seed}"
    s = run(make_spec("sampling", "quick", s_overrides, **common), s_dir, cache=cache)
    s_seconds = time.monotonic() - start
    return {
        "data_seed": data_seed,
        "seed": seed,
        "gflowpo": _summary(g, g_dir, g_seconds),
        "sampling": _summary(s, s_dir, s_seconds),
    }


def _summary(result: dict, run_dir: Path, seconds: float) -> dict:
    rows = result["prompts"]
    train = {e["prompt"]: e["accuracy"] for e in read_events(run_dir / "events.jsonl", kind="eval")}
    return {
        "chosen": rows["chosen"]["prompt"],
        "val": rows["chosen"]["val"],
        "test": rows["chosen"]["test"],
        "test_ci95": rows["chosen"]["test_ci95"],
        "no_instruction_val": rows["no instruction"]["val"],
        "no_instruction_test": rows["no instruction"]["test"],
        "prompts_drawn": result["budget"]["optimizer_calls"],
        "distinct_scored": len(train),
        "mean_train_acc": float(np.mean(list(train.values()))) if train else None,
        "best_train_acc": max(train.values(), default=None),
        "target_calls": result["budget"]["target_calls"],
        "selection_calls": result["budget"]["selection_calls"],
        "seconds": round(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 21, 42])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cache = OutputCache(args.out / "cache.sqlite")  # cold at the start: the timings are honest
    rows = []
    for i, data_seed in enumerate(args.seeds):
        row = run_pair(args.out, data_seed, i, args.steps, cache)
        rows.append(row)
        (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
        print(json.dumps(row), flush=True)
    print(
        "\n| seed | method | val (chosen) | test (chosen) [95% CI] | no-instr val / test | drawn | "
        "distinct | mean / best train acc | target calls | minutes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for name in ("gflowpo", "sampling"):
            r = row[name]
            low, high = r["test_ci95"]
            print(
                f"| {row['data_seed']} | {name} | {r['val']:.3f} | {r['test']:.3f} [{low:.3f}, {high:.3f}] | "
                f"{r['no_instruction_val']:.3f} / {r['no_instruction_test']:.3f} | {r['prompts_drawn']} | "
                f"{r['distinct_scored']} | {r['mean_train_acc']:.3f} / {r['best_train_acc']:.3f} | "
                f"{r['target_calls']} | {r['seconds'] / 60:.1f} |"
            )
    for name in ("gflowpo", "sampling"):
        tests = [row[name]["test"] for row in rows]
        print(f"{name}: mean test {np.mean(tests):.3f} over {len(tests)} seeds")
    print(f"no instruction: mean test {np.mean([row['gflowpo']['no_instruction_test'] for row in rows]):.3f}")


if __name__ == "__main__":
    main()
