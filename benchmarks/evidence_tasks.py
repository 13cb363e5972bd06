"""Which instruction-induction tasks does the instruction matter for, on the default target?

Issue 14 picks its tasks by measuring: no instruction against the benchmark's first human instruction,
on the same seeded test subsample `compare --test-examples N` scores (so the figures are the ones the
comparison's reference rows will show). A task is useful for comparing search methods when the human
instruction is clearly above no instruction (there is something to find) and below 1.0 (it is not
solved by any sensible instruction).

    python benchmarks/evidence_tasks.py --examples 100
"""

from __future__ import annotations

import argparse
import time

from promptflux.evaluation import Budget, Evaluator, OutputCache
from promptflux.evaluation.cache import default_cache_path
from promptflux.models import load_model
from promptflux.models.defaults import DEFAULT_TARGET
from promptflux.recipe.config import ModelAccess
from promptflux.recipe.driver import fixed_subsample
from promptflux.tasks import get_task, list_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="test subsample (compare --test-examples)")
    parser.add_argument("--tasks", default="", help="comma-separated; default every ii/ task")
    args = parser.parse_args()
    every = [t.name for t in list_tasks() if t.name.startswith("ii/")]
    names = [t for t in args.tasks.split(",") if t] or every
    print(f"target {DEFAULT_TARGET}, {args.examples} test examples (the compare subsample)\n")
    print("| task | no instruction | human instruction | gap | seconds |")
    print("|---|---:|---:|---:|---:|")
    with load_model(DEFAULT_TARGET, ModelAccess().model_options()) as lm:
        for name in names:
            task = get_task(name)
            human = getattr(task, "reference_instructions", ())
            if not human:
                continue
            examples = fixed_subsample(task.split("test"), args.examples)
            start = time.monotonic()
            evaluator = Evaluator(task, lm, cache=OutputCache(default_cache_path()), budget=Budget())
            none, gold = evaluator.evaluate(["", human[0]], examples)
            print(
                f"| {name} | {none.mean:.2f} | {gold.mean:.2f} | "
                f"{gold.mean - none.mean:+.2f} | {time.monotonic() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
