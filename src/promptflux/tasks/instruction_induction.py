"""Instruction Induction (Honovich et al. 2022): 24 small generation tasks, registered as `ii/<task>`.

Splits follow GFlowPO: `train` = induce examples 0-32, `dev` = induce examples 32-64, `test` = the
execute set. Three tasks have fewer than 64 induce examples (cause_and_effect 26, common_concept 17,
informal_to_formal 15); their induce set is halved instead (first half train, rest dev). `pool` holds
the induce examples after the first 64 (absent for those three), for demonstrations that must not
overlap train or dev.

Two tasks store no input/output pair, so we build one:
- cause_and_effect: input "Sentence 1: .. Sentence 2: ..", output the cause. The cause comes first on
  even-numbered examples and second on odd ones (deterministic, balanced, no RNG).
- common_concept: input the items joined by ", ", output the concept; every listed concept is accepted.
"""

from __future__ import annotations

from functools import cache

from promptflux.tasks._common import GENERATION_TEMPLATE, no_seed, resolve_template
from promptflux.tasks._data import data_dir_names, read_json
from promptflux.tasks.base import GenerationTask, Metric, Template
from promptflux.tasks.metrics import contains, exact_match, exact_set, f1
from promptflux.types import Example

TRAIN_END, DEV_END = 32, 64
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
        "informal_to_formal) split their induce set in half instead. Gold human instructions in "
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


def load(task: str, *, seed: int | None = None, template: Template | str | None = None) -> GenerationTask:
    no_seed(f"ii/{task}", seed)
    induce = _examples(task, "induce")
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
