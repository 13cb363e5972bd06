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
    events = run_dir / "events.jsonl"
    scored = list(read_events(events, kind="eval"))  # in the order the prompts were sampled
    train = {e["prompt"]: e["accuracy"] for e in scored}
    val = {e["prompt"]: e["accuracy"] for e in read_events(events, kind="validation")}
    third = max(1, len(scored) // 3)
    both = [p for p in val if p in train]
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
        "train_acc_first_third": float(np.mean([e["accuracy"] for e in scored[:third]])),
        "train_acc_last_third": float(np.mean([e["accuracy"] for e in scored[-third:]])),
        "validated": len(val),
        "val_ties_at_best": sum(1 for v in val.values() if v == max(val.values())),
        "train_val_spearman": _spearman([train[p] for p in both], [val[p] for p in both]),
        "target_calls": result["budget"]["target_calls"],
        "selection_calls": result["budget"]["selection_calls"],
        "seconds": round(seconds),
    }


def _spearman(a: list[float], b: list[float]) -> float | None:
    """Rank correlation (average ranks for ties): does training accuracy predict validation accuracy?"""
    if len(a) < 3:
        return None
    ra, rb = (_ranks(x) for x in (a, b))
    if np.std(ra) == 0 or np.std(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: list[float]) -> np.ndarray:
    values = np.asarray(x)
    order = values.argsort()
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):  # ties share their mean rank
        ranks[values == v] = ranks[values == v].mean()
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 21, 42])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--report", action="store_true", help="Only re-read finished runs in --out.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.report:
        rows = [reread(args.out, row) for row in json.loads((args.out / "summary.json").read_text())]
    else:
        cache = OutputCache(args.out / "cache.sqlite")  # cold at the start: the timings are honest
        for i, data_seed in enumerate(args.seeds):
            rows.append(run_pair(args.out, data_seed, i, args.steps, cache))
            (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
            print(json.dumps(rows[-1]), flush=True)
    print_table(rows)


def reread(out: Path, row: dict) -> dict:
    """A summary row rebuilt from its run folders (wall times kept from the original run)."""
    for name in ("gflowpo", "sampling"):
        run_dir = out / f"{name}-{row['data_seed']}"
        result = json.loads((run_dir / "result.json").read_text())
        row[name] = _summary(result, run_dir, row[name]["seconds"])
    return row


def print_table(rows: list[dict]) -> None:
    print(
        "\n| seed | method | val (chosen) | test (chosen) [95% CI] | no-instr val / test | drawn | "
        "distinct | mean / best train acc | train acc 1st / last third | val ties at best / validated | "
        "train-val rank corr. | target calls | minutes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for name in ("gflowpo", "sampling"):
            r = row[name]
            low, high = r["test_ci95"]
            print(
                f"| {row['data_seed']} | {name} | {r['val']:.3f} | {r['test']:.3f} [{low:.3f}, {high:.3f}] | "
                f"{r['no_instruction_val']:.3f} / {r['no_instruction_test']:.3f} | {r['prompts_drawn']} | "
                f"{r['distinct_scored']} | {r['mean_train_acc']:.3f} / {r['best_train_acc']:.3f} | "
                f"{r['train_acc_first_third']:.3f} / {r['train_acc_last_third']:.3f} | "
                f"{r['val_ties_at_best']} / {r['validated']} | {_fmt(r['train_val_spearman'])} | "
                f"{r['target_calls']} | {r['seconds'] / 60:.1f} |"
            )
    for name in ("gflowpo", "sampling"):
        tests = [row[name]["test"] for row in rows]
        print(f"{name}: mean test {np.mean(tests):.3f} over {len(tests)} seeds")
    print(f"no instruction: mean test {np.mean([row['gflowpo']['no_instruction_test'] for row in rows]):.3f}")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    main()
