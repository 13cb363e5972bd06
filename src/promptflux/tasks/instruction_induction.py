"""Instruction Induction (Honovich et al. 2022): 24 small generation tasks, registered as `ii/<task>`.

Splits follow GFlowPO: `train` = induce examples 0-32, `dev` = induce examples 32-64, `test` = the
execute set. Three tasks have fewer than 64 induce examples (cause_and_effect 26, common_concept 17,
informal_to_formal 15); their induce set is halved instead (first half train, rest dev). `pool` holds
the induce examples after the first 64 (absent for those three), for demonstrations that must not
overlap train or dev.

The paper's split is positional, and four induce files are sorted: in diff, sum and num_to_verbal the
first 64 inputs count up from 0 (every dev example of diff is "x 0"), and in larger_animal every early
pair contains "snail". On those four, dev cannot tell instructions apart (a prompt scoring 1.0 on dev
scored 0.02 on test), so loading them with the paper's split logs a warning; `split="shuffled"` draws
train, dev and pool from a seeded shuffle of the induce set instead (`split_seed`, default 0). Example
ids keep their file positions, so cached answers stay valid across splits.

Two tasks store no input/output pair, so we build one:
- cause_and_effect: input "Sentence 1: .. Sentence 2: ..", output the cause. The cause comes first on
  even-numbered examples and second on odd ones (deterministic, balanced, no RNG).
- common_concept: input the items joined by ", ", output the concept; every listed concept is accepted.
"""

from __future__ import annotations

import logging
import random
from functools import cache
from typing import Literal

from promptflux.errors import ConfigError
from promptflux.tasks._common import GENERATION_TEMPLATE, no_seed, resolve_template
from promptflux.tasks._data import data_dir_names, read_json
from promptflux.tasks.base import GenerationTask, Metric, Template
from promptflux.tasks.metrics import contains, exact_match, exact_set, f1
from promptflux.types import Example

TRAIN_END, DEV_END = 32, 64
SORTED_INDUCE = frozenset({"diff", "sum", "num_to_verbal", "larger_animal"})
log = logging.getLogger(__name__)
LICENCE = "Apache-2.0 (Honovich et al. 2022, orhonovich/instruction-induction)"
_METRIC_BY_TASK: dict[str, Metric] = {
    "common_concept": f1,
    "informal_to_formal": f1,
    "orthography_starts_with": exact_set,
    "taxonomy_animal": exact_set,
    "synonyms": contains,
}


def task_names() -> tuple[str, ...]:
    return tuple(name.removesuffix(".json") for name in data_dir_names("instruction_induction/raw/execute"))


def metric_for(task: str) -> Metric:
    return _METRIC_BY_TASK.get(task, exact_match)


def describe(task: str) -> str:
    metric = metric_for(task).__name__
    return (
        f"Instruction Induction task {task!r} (metric {metric}). train = induce examples 0-32, dev = 32-64, "
        "test = execute set; tasks with < 64 induce examples (cause_and_effect, common_concept, "
        "informal_to_formal) split their induce set in half instead; split='shuffled' shuffles the induce "
        "set first (for diff, sum, num_to_verbal, larger_animal, whose induce files are sorted). Gold human "
        "instructions in "
        "task.reference_instructions."
    )


class InstructionInductionTask(GenerationTask):
    """A GenerationTask that also carries the human-written gold instructions for the task."""

    def __init__(self, *args, reference_instructions: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reference_instructions = reference_instructions


def _to_example(task: str, source: str, number: int, raw: dict) -> Example:
    """One raw item of the induce/execute file `source` -> Example; `number` is its position in the file."""
    if task == "cause_and_effect":
        cause, effect = raw["cause"], raw["effect"]
        first, second = (cause, effect) if number % 2 == 0 else (effect, cause)
        return Example(
            id=f"ii/{task}/{source}/{number}", input=f"Sentence 1: {first} Sentence 2: {second}", target=cause
        )
    if task == "common_concept":
        concepts = tuple(dict.fromkeys([raw["concept"], *raw.get("all_common_concepts", [])]))
        return Example(
            id=f"ii/{task}/{source}/{number}",
            input=", ".join(raw["items"]),
            target=raw["concept"],
            answers=concepts,
        )
    extra = raw.get("possible_outputs") or raw.get("possible_translations") or []
    answers = tuple(dict.fromkeys([raw["output"], *extra])) if extra else ()
    return Example(
        id=f"ii/{task}/{source}/{number}", input=raw["input"], target=raw["output"], answers=answers
    )


@cache
def _examples(task: str, which: str) -> tuple[Example, ...]:
    """All examples of the induce or execute file, in the files' numeric key order."""
    items = read_json(f"instruction_induction/raw/{which}/{task}.json")["examples"]
    ordered = [items[key] for key in sorted(items, key=int)]
    return tuple(_to_example(task, which, i, raw) for i, raw in enumerate(ordered))


def load(
    task: str,
    *,
    seed: int | None = None,
    template: Template | str | None = None,
    split: Literal["paper", "shuffled"] = "paper",
    split_seed: int = 0,
) -> GenerationTask:
    """`split="paper"` takes train/dev by position (GFlowPO's split); "shuffled" shuffles the induce set
    with `split_seed` first, for the tasks whose induce file is sorted (see the module docstring)."""
    no_seed(f"ii/{task}", seed)
    if split not in ("paper", "shuffled"):
        raise ConfigError(f"task 'ii/{task}': split must be 'paper' or 'shuffled'; got {split!r}")
    induce = _examples(task, "induce")
    if split == "shuffled":
        induce = tuple(random.Random(split_seed).sample(induce, len(induce)))
    elif task in SORTED_INDUCE:
        log.warning(
            "ii/%s: the paper's split takes dev from a sorted induce file, so dev cannot select a prompt; "
            "use the task option split=shuffled (--task-option split=shuffled)",
            task,
        )
    if len(induce) >= DEV_END:
        splits = {"train": induce[:TRAIN_END], "dev": induce[TRAIN_END:DEV_END]}
        if len(induce) > DEV_END:
            splits["pool"] = induce[DEV_END:]
    else:
        half = (len(induce) + 1) // 2
        splits = {"train": induce[:half], "dev": induce[half:]}
    splits["test"] = _examples(task, "execute")
    gold = tuple(read_json(f"instruction_induction/annotations/{task}.json")["annotations"])
    return InstructionInductionTask(
        f"ii/{task}",
        splits,
        metric_for(task),
        template=resolve_template(template, GENERATION_TEMPLATE),
        description=describe(task),
        reference_instructions=gold,
    )
