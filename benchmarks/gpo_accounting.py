"""GPO cost per step versus the official code's accounting for the same settings, from run folders.

The official implementation asks the optimiser for 8 completions per call and keeps the first, so each
of its `candidates` calls generates 8 replies; it scores every candidate on the whole dev split each
step, duplicates and already-seen prompts included, and checks no edit limit (so it never re-asks).
promptflux asks for one completion per call (re-asking only for unparseable or over-limit replies, which
are counted), and scores each distinct new prompt once per run. Both columns describe the same steps:
the official figures are derived from this run's own candidate counts and measured reply lengths.

    python benchmarks/gpo_accounting.py <run folder> [...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from promptflux.runs import read_events
from promptflux.tasks import get_task

OFFICIAL_COMPLETIONS_PER_CALL = 8


def accounting(run: Path) -> dict[str, float]:
    config = yaml.safe_load((run / "config.yaml").read_text())
    task = get_task(config["task"], seed=config.get("data_seed"), **config.get("task_options", {}))
    n_dev = len(task.split(config.get("val_split", "dev")))
    rounds = task.rounds
    steps = list(read_events(run / "events.jsonl", kind="step"))
    gpo_steps = list(read_events(run / "events.jsonl", kind="gpo_step"))
    if not steps or not gpo_steps:
        raise SystemExit(f"{run}: no GPO steps logged")
    candidates = int(config["hyperparameters"]["candidates"])
    last = steps[-1]["budget"]
    calls = last["optimizer_calls"]
    tokens_per_reply = last["optimizer_completion_tokens"] / max(calls, 1)
    prompt_tokens_per_call = last["optimizer_prompt_tokens"] / max(calls, 1)
    n = len(steps)
    official_calls = candidates * n
    return {
        "steps": n,
        "ours_optimizer_calls": calls,
        "ours_optimizer_completions": calls,
        "ours_completion_tokens": last["optimizer_completion_tokens"],
        "ours_prompt_tokens": last["optimizer_prompt_tokens"],
        "official_optimizer_calls": official_calls,
        "official_completions": official_calls * OFFICIAL_COMPLETIONS_PER_CALL,
        "official_completion_tokens": official_calls * OFFICIAL_COMPLETIONS_PER_CALL * tokens_per_reply,
        "official_prompt_tokens": official_calls * prompt_tokens_per_call,
        "ours_target_calls": last["target_calls"],
        "official_target_calls": (1 + candidates * n) * n_dev * rounds,  # p0 + every candidate, every step
        "retries": sum(s["attempts"] - 1 for e in gpo_steps for s in e["slots"]),
        "dropped": sum(1 for e in gpo_steps for s in e["slots"] if s["dropped"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    print(
        "| run | steps | optimiser calls (ours / official) | completions generated | completion tokens "
        "| target calls | retries | dropped |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run in args.runs:
        a = accounting(run)
        print(
            f"| {run.name} | {a['steps']} | {a['ours_optimizer_calls']} / {a['official_optimizer_calls']} | "
            f"{a['ours_optimizer_completions']} / {a['official_completions']} "
            f"({a['ours_optimizer_completions'] / a['official_completions']:.0%}) | "
            f"{a['ours_completion_tokens']} / {a['official_completion_tokens']:.0f} "
            f"({a['ours_completion_tokens'] / max(a['official_completion_tokens'], 1):.0%}) | "
            f"{a['ours_target_calls']} / {a['official_target_calls']} "
            f"({a['ours_target_calls'] / a['official_target_calls']:.0%}) | {a['retries']} | {a['dropped']} |"
        )


if __name__ == "__main__":
    main()
