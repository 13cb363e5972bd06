"""GFlowPO target calls per run versus the reference code's accounting, from a run's event log.

The reference implementation scores every prompt of every micro-batch on the training set, replayed
prompts and repeated samples included: |prompts in the micro-batch| x |D_train| target calls each time.
promptflux scores a (prompt, example) pair once per run: replayed prompts carry their accuracy and
repeated samples are served from the run's ledger. Both counts below cover the same steps of the same run.

    python benchmarks/gflowpo_target_calls.py runs/<run folder> [...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from promptflux.runs import read_events
from promptflux.tasks import get_task


def accounting(run: Path) -> dict[str, float]:
    config = yaml.safe_load((run / "config.yaml").read_text())
    n_train = len(get_task(config["task"], seed=config.get("data_seed")).split("train"))
    batches = list(read_events(run / "events.jsonl", kind="micro_batch"))
    if not batches:
        raise SystemExit(f"{run}: no micro_batch events (not a GFlowPO run?)")
    reference = sum(len(b["prompts"]) for b in batches) * n_train
    ours = batches[-1]["budget"]["target_calls"]
    replayed = sum(sum(b["replayed"]) for b in batches)
    prompts = sum(len(b["prompts"]) for b in batches)
    online = [p for b in batches for p, r in zip(b["prompts"], b["replayed"]) if not r]
    # The training phase alone (after the warm-up, where replay can happen at all).
    warmup = config["gflowpo"]["warmup_steps"]
    before = [b for b in batches if b["step"] < warmup]
    after = [b for b in batches if b["step"] >= warmup]
    start_calls = before[-1]["budget"]["target_calls"] if before else 0
    train_reference = sum(len(b["prompts"]) for b in after) * n_train
    train_ours = (after[-1]["budget"]["target_calls"] - start_calls) if after else 0
    return {
        "training ratio": train_ours / train_reference if train_reference else float("nan"),
        "steps": len({b["step"] for b in batches}),
        "prompts": prompts,
        "replayed": replayed,
        "repeated samples": len(online) - len(set(online)),
        "reference calls": reference,
        "promptflux calls": ours,
        "ratio": ours / reference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    for run in parser.parse_args().runs:
        a = accounting(run)
        print(
            f"{run}: {a['steps']} steps, {a['prompts']} prompts in micro-batches "
            f"({a['replayed']} replayed, {a['repeated samples']} repeated samples); target calls: "
            f"reference accounting {a['reference calls']}, promptflux {a['promptflux calls']} "
            f"= {a['ratio']:.1%} (goal <= 50%); training phase alone {a['training ratio']:.1%}"
        )


if __name__ == "__main__":
    main()
