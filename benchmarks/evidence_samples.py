"""What each method's search proposed, read from a comparison's run logs: a look at *why* a method is
ahead or behind, beside evidence_report.py's *whether*.

For every task x method (seeds pooled) it counts the distinct prompts the search scored and the ones the
driver validated, and compares the validated ones with the two reference rows on the same dev split:
how many beat "no instruction", the best dev accuracy, and the human instruction's. A method whose
proposals never beat "no instruction" on dev cannot select anything better, whatever its search does.
A second table follows each trained sampler (GFlowPO) seed by seed: how many updates it made, how many
fresh on-policy batches it drew and their mean training accuracy in order (a rising sequence is the
policy moving towards rewarded prompts), and the target calls it spent of the trial's budget.
Reads only events.jsonl and summary.json, so it costs nothing and can run beside a grid.

    python benchmarks/evidence_samples.py benchmarks/evidence/main
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from promptflux.runs.events import read_events


def proposals(trial: Path) -> tuple[set[str], dict[str, float]]:
    """(prompts scored by the search, {validated prompt: dev accuracy}) of one trial folder."""
    searched, validated = set(), {}
    for event in read_events(trial / "events.jsonl"):
        if event["kind"] == "eval" and event.get("split") != "test":
            searched.add(event["prompt"])
        elif event["kind"] == "validation" and not event.get("dropped"):
            validated[event["prompt"]] = event["accuracy"]
    return searched, validated


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def table(folder: Path) -> list[str]:
    summary = json.loads((folder / "summary.json").read_text())
    lines = [
        "| task | method | seeds | prompts searched | validated | beat no-instr. on dev | best dev | "
        "no-instr. dev | human dev |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task in summary["tasks"]:
        refs = {m["label"]: m.get("val_mean") for m in task["methods"] if m.get("reference")}
        plain, human = refs.get("(no instruction)"), refs.get("(human instruction)")
        for method in task["methods"]:
            if method.get("reference"):
                continue
            searched, validated, seeds = set(), [], 0
            for trial in sorted((folder / "trials" / task["slug"] / method["label"]).glob("seed-*")):
                if not (trial / "result.json").exists():
                    continue
                s, v = proposals(trial)
                searched |= s
                validated += [acc for prompt, acc in v.items() if prompt.strip()]
                seeds += 1
            if not seeds:
                continue
            beat = "–" if plain is None else f"{sum(a > plain for a in validated)}/{len(validated)}"
            cells = [task["task"], method["label"], seeds, len(searched), len(validated), beat]
            cells += [fmt(max(validated) if validated else None), fmt(plain), fmt(human)]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def learning(trial: Path) -> tuple[int, list[float], int] | None:
    """(updates, mean accuracy of each on-policy batch's fresh prompts, target calls) of a trained
    sampler's trial; None for a method that logs no micro-batches."""
    updates, fresh_means, calls, seen = 0, [], 0, False
    for event in read_events(trial / "events.jsonl"):
        if event["kind"] == "step":
            updates += event.get("loss") is not None
            calls = event["budget"]["target_calls"]
        elif event["kind"] == "micro_batch":
            seen = True
            fresh = [a for a, old in zip(event["accuracy"], event["replayed"]) if not old]
            if event["online"] and fresh:
                fresh_means.append(sum(fresh) / len(fresh))
    return (updates, fresh_means, calls) if seen else None


def learning_table(folder: Path) -> list[str]:
    budget = json.loads((folder / "summary.json").read_text())["budget"]["max_target_calls"]
    lines = [
        "| trial | updates | fresh batches: mean train accuracy, in order | target calls |",
        "|---|---:|---|---:|",
    ]
    for trial in sorted((folder / "trials").glob("*/*/seed-*")):
        if not (trial / "result.json").exists() or (row := learning(trial)) is None:
            continue
        updates, means, calls = row
        name, rises = "/".join(trial.parts[-3:]), " → ".join(f"{m:.3f}" for m in means)
        lines.append(f"| {name} | {updates} | {rises} | {calls} of {budget} |")
    return lines if len(lines) > 2 else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a `promptflux compare --out` folder")
    folder = parser.parse_args().folder
    print("\n".join(table(folder)))
    if trained := learning_table(folder):
        print("\n" + "\n".join(trained))


if __name__ == "__main__":
    main()
