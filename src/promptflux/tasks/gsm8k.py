"""GSM8K (Cobbe et al. 2021) registered as `gsm8k`, with GPO's splits.

GPO uses `train` 100, `dev` (its "eval") 100, `few_shot` 5 and `format` 5 from the GSM8K train file and
`test` 300 from the GSM8K test file; the membership file points at lines of the shipped MIT files.

Example: input = the question; target = the number after "####" in the reference solution, commas
removed ("1,250" -> "1250"); the full worked solution is kept in `example.meta["solution"]`.
Scoring is `numeric_match` (last number of the generation). Unlike the short-answer QA tasks the model
must reason before answering, so the template ends with the instruction (no "Answer:") and generation
allows 256 new tokens, GPO's first-round budget. `rendering="gpo"` adds GPO's second round (see
_common.py): a turn asking for the final number alone, and that reply is scored.
"""

from __future__ import annotations

from functools import cache

from promptflux.errors import DataError
from promptflux.tasks._common import NUMBER_FORMAT, no_seed, rendering_options
from promptflux.tasks._data import gpo_membership, read_jsonl
from promptflux.tasks.base import GenerationTask, Template
from promptflux.tasks.metrics import numeric_match
from promptflux.types import Example, SamplingParams

LICENCE = "MIT (openai/grade-school-math)"
TEMPLATE = Template("{input}\n\n{prompt}", chat=True)
PARAMS = SamplingParams(max_new_tokens=256)
DESCRIPTION = (
    "GSM8K grade-school math with GPO's splits: train/dev/few_shot/format from GSM8K train, test (300) "
    "from GSM8K test. Target = final number; numeric_match on the last number generated (256 tokens). "
    "Option rendering='gpo': a second turn asks for the final number only, and that reply is scored."
)


def final_number(solution: str) -> str | None:
    """The answer after the last '####' of a GSM8K solution, without thousands separators."""
    _, sep, tail = solution.rpartition("####")
    return tail.strip().replace(",", "") if sep else None


@cache
def _example(source: str, line: int) -> Example:
    rows = read_jsonl(f"gsm8k/{source}.jsonl")
    item = rows[line] if line < len(rows) else {}
    target = final_number(str(item.get("answer", "")))
    if not target or "question" not in item:
        raise DataError(
            f"tasks/data/gsm8k/{source}.jsonl, row {line + 1}: expected question and '#### <number>'"
        )
    return Example(
        id=f"gsm8k/{source}/{line}", input=item["question"], target=target, meta={"solution": item["answer"]}
    )


def load(
    *,
    seed: int | None = None,
    template: Template | str | None = None,
    rendering: str = "qa",
    first_round: SamplingParams | None = None,
) -> GenerationTask:
    """`rendering`: "qa" (one 256-token round) or "gpo" (two rounds; `first_round` overrides round 1)."""
    no_seed("gsm8k", seed)
    options = rendering_options(
        "gsm8k",
        rendering,
        qa_template=TEMPLATE,
        qa_params=PARAMS,
        answer_format=NUMBER_FORMAT,
        template=template,
        first_round=first_round,
    )
    splits = {
        split: [_example(source, line) for source, line in members]
        for split, members in gpo_membership("gsm8k").items()
    }
    return GenerationTask("gsm8k", splits, numeric_match, description=DESCRIPTION, **options)
