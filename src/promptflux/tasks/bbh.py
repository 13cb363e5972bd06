"""BIG-Bench Hard (Suzgun et al. 2022): 27 tasks registered as `bbh/<task>`, with GPO's splits.

BBH has no official train/test split. We use GPO's, rebuilt from the shipped MIT files through the
membership file (see build_gpo_membership.py): `train` (48 for a 250-example task), `dev` (GPO's
"eval", 48), `test` (144), `few_shot` (5 demonstrations) and `format` (5 examples GPO shows its
optimiser). Example ids are `bbh/<task>/<index in the BBH file>`, stable across splits.

Scoring is `metrics.bbh_match`: option targets "(B)" accept "(B)", "B", "B." or "The answer is (B)";
other targets (Yes/No, True/False, numbers, word lists, bracket sequences) use a light exact match on
the first line of the answer. The 3-shot chain-of-thought prompt of the paper is on `task.cot_prompt`.

`rendering="gpo"` scores in two rounds as the paper does (see _common.py); the round-2 answer format is
read off the task's targets: option letters, one of two words, a number, or (from a small table) the
sorted words / closing brackets.
"""

from __future__ import annotations

import re
from functools import cache

from promptflux.tasks._common import (
    GENERIC_FORMAT,
    NUMBER_FORMAT,
    OPTION_FORMAT,
    QA_PARAMS,
    QA_TEMPLATE,
    no_seed,
    rendering_options,
)
from promptflux.tasks._data import gpo_membership, read_json, read_text
from promptflux.tasks.base import GenerationTask, Template
from promptflux.tasks.metrics import bbh_match
from promptflux.types import Example, SamplingParams

LICENCE = "MIT (suzgunmirac/BIG-Bench-Hard; tasks derived from BIG-bench, Apache-2.0)"


def task_names() -> tuple[str, ...]:
    return tuple(sorted(gpo_membership("bbh")))


def describe(task: str) -> str:
    return (
        f"BIG-Bench Hard task {task!r} with GPO's splits: train / dev (GPO eval) / test / few_shot / "
        "format. Template: question, instruction, 'Answer:' (chat turn, greedy, 64 new tokens); "
        "bbh_match metric (option letters or light exact match). CoT prompt on task.cot_prompt. "
        "Option rendering='gpo': the paper's two rounds (free answer up to 256 tokens, then a turn "
        "asking for the final answer only, which is scored)."
    )


# Targets whose form the generic rules below cannot name.
_FORMATS = {
    "word_sorting": "as the words in alphabetical order, separated by single spaces",
    "dyck_languages": "as the closing brackets that complete the sequence, separated by spaces",
}
_OPTION = re.compile(r"^\([A-Z]\)$")
_NUMBER = re.compile(r"^-?\d+$")


def answer_format(task: str) -> str:
    """How the final answer of `task` should look, for the "gpo" rendering's answer turn."""
    if task in _FORMATS:
        return _FORMATS[task]
    targets = [e.target.strip() for e in _examples(task)]
    if sum(bool(_OPTION.match(t)) for t in targets) > len(targets) / 2:  # a few odd free-text targets
        return OPTION_FORMAT
    if all(_NUMBER.match(t) for t in targets):
        return NUMBER_FORMAT
    words = sorted(set(targets), reverse=True)  # "Yes or No", "True or False", "valid or invalid"
    return f"as exactly one word: {words[0]} or {words[1]}" if len(words) == 2 else GENERIC_FORMAT


class BBHTask(GenerationTask):
    """A GenerationTask that also carries the task's 3-shot chain-of-thought prompt from the paper."""

    def __init__(self, *args, cot_prompt: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cot_prompt = cot_prompt


@cache
def _examples(task: str) -> tuple[Example, ...]:
    raw = read_json(f"bbh/data/{task}.json")["examples"]
    return tuple(
        Example(id=f"bbh/{task}/{i}", input=item["input"], target=item["target"])
        for i, item in enumerate(raw)
    )


def cot_prompt(task: str) -> str:
    """The CoT exemplars without the canary header (everything after the '-----' line)."""
    text = read_text(f"bbh/cot_prompts/{task}.txt")
    _, _, body = text.partition("-----\n")
    return (body or text).strip()


def load(
    task: str,
    *,
    seed: int | None = None,
    template: Template | str | None = None,
    rendering: str = "qa",
    first_round: SamplingParams | None = None,
) -> BBHTask:
    """`rendering`: "qa" (one short round) or "gpo" (two rounds; `first_round` overrides round 1)."""
    no_seed(f"bbh/{task}", seed)
    options = rendering_options(
        f"bbh/{task}",
        rendering,
        qa_template=QA_TEMPLATE,
        qa_params=QA_PARAMS,
        answer_format=answer_format(task),
        template=template,
        first_round=first_round,
    )
    examples = _examples(task)
    splits = {split: [examples[i] for i in members] for split, members in gpo_membership("bbh")[task].items()}
    return BBHTask(
        f"bbh/{task}",
        splits,
        bbh_match,
        description=describe(task),
        cot_prompt=cot_prompt(task),
        **options,
    )
