"""GPO's ablation grid (trajectory x refinement x schedule) on the lite BBH tasks, any optimiser endpoint.

Runs every (variant, task) of a grid file as an ordinary promptflux run folder (so a re-run skips
finished runs and resumes interrupted ones), then prints test accuracy of each variant's best-by-dev
prompt per task, beside the empty and "Let's think step by step." baselines.

    python benchmarks/gpo_lite_bbh.py --out runs/lite --optimizer-model smollm2 --target smollm2 \
        [--grid benchmarks/gpo_lite_bbh.yaml] [--variants best limit-none] [--set steps=2 --set candidates=4]
        [--rendering qa]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from promptflux.evaluation import OutputCache
from promptflux.recipe import make_spec, run


def parse_sets(items: list[str]) -> dict:
    return {k.strip(): yaml.safe_load(v) for k, _, v in (item.partition("=") for item in items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--grid", type=Path, default=Path(__file__).with_name("gpo_lite_bbh.yaml"))
    parser.add_argument("--optimizer-model", default="smollm2")
    parser.add_argument("--target", default="smollm2")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--variants", nargs="*", default=None, help="Only these variants (default: all).")
    parser.add_argument("--tasks", nargs="*", default=None, help="Only these tasks (default: the grid's).")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="Override for every run.")
    parser.add_argument("--rendering", default=None, help="Task rendering instead of the grid's (qa, gpo).")
    args = parser.parse_args()
    grid = yaml.safe_load(args.grid.read_text())
    variants = {k: v for k, v in grid["variants"].items() if not args.variants or k in args.variants}
    tasks = args.tasks or grid["tasks"]
    task_options = dict(grid.get("task_options", {}))
    if args.rendering:
        task_options["rendering"] = args.rendering
    args.out.mkdir(parents=True, exist_ok=True)
    cache = OutputCache(args.out / "cache.sqlite")
    table: dict[str, dict[str, dict]] = {}
    for name, overrides in variants.items():
        for task in tasks:
            folder = args.out / f"{name}-{task.replace('/', '_')}"
            hyper = {**grid.get("base", {}), **overrides, **parse_sets(args.sets)}
            start = time.monotonic()
            spec = make_spec(
                "gpo",
                "default",
                hyper,
                task=task,
                task_options=task_options,
                target=args.target,
                optimizer_model=args.optimizer_model,
                base_url=args.base_url,
            )
            result = run(spec, folder, resume=(folder / "config.yaml").exists(), cache=cache)
            result["seconds"] = time.monotonic() - start
            table.setdefault(name, {})[task] = result
            tests = {k: r["test"] for k, r in result["prompts"].items()}
            line = {"variant": name, "task": task, "best_prompt": result["best_prompt"], "test": tests}
            print(json.dumps(line), flush=True)
    short = [t.split("/")[-1] for t in tasks]
    print("\n| variant | " + " | ".join(short) + " | mean |")
    print("|---|" + "---:|" * (len(tasks) + 1))
    for ref in ("no instruction", "initial prompt"):
        first = next(iter(table.values()))
        cells = [first[t]["prompts"][ref]["test"] for t in tasks]
        print(f"| {ref} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {np.mean(cells):.3f} |")
    for name, rows in table.items():
        cells = [rows[t]["prompts"]["chosen"]["test"] for t in tasks]
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {np.mean(cells):.3f} |")


if __name__ == "__main__":
    main()
