"""MMLU (Hendrycks et al. 2021): 57 subjects registered as `mmlu/<subject>`, with GPO's splits.

GPO draws `train` / `dev` (its "eval") / `test` (20 / 20 / 59-60 per subject) from the MMLU *test*
split, `few_shot` (4) from MMLU dev and `format` (5) from validation. The membership file points at the
shipped MIT CSVs; 7 `format` items come from a later, re-worded validation release we do not have and
point at the same question in the Sep-2020 snapshot (older wording, same options and answer).

Input: the question, then one "(A) option" line per option; target: "(C)"; metric `option_match`.
Where GPO's copy shows an option "None" as "nan" (a pandas artefact), we render the true text "None".
`rendering="gpo"` scores in two rounds as the paper does (see _common.py), asking for the option letter.
"""

from __future__ import annotations

from functools import cache

from promptflux.errors import DataError
from promptflux.tasks._common import (
    OPTION_FORMAT,
    QA_PARAMS,
    QA_TEMPLATE,
    no_seed,
    render_options,
    rendering_options,
)
from promptflux.tasks._data import gpo_membership, read_rows
from promptflux.tasks.base import GenerationTask, Template
from promptflux.tasks.metrics import option_match
from promptflux.types import Example, SamplingParams

LICENCE = "MIT (hendrycks/test)"
_FILE_SUFFIX = {"test": "test", "dev": "dev", "val_sep2020": "val"}


def task_names() -> tuple[str, ...]:
    return tuple(sorted(gpo_membership("mmlu")))


def describe(subject: str) -> str:
    return (
        f"MMLU subject {subject!r} with GPO's splits: train/dev/test from the MMLU test split, few_shot "
        "from MMLU dev, format from validation. Input = question + '(A) ..' lines, target '(C)', "
        "option_match metric. Option rendering='gpo': the paper's two rounds (free answer up to 256 "
        "tokens, then a turn asking for the option letter only, which is scored)."
    )


@cache
def _example(subject: str, source: str, row: int) -> Example:
    relative = f"mmlu/{source}/{subject}_{_FILE_SUFFIX[source]}.csv"
    rows = read_rows(relative)
    if row >= len(rows) or len(rows[row]) != 6 or rows[row][5].strip() not in ("A", "B", "C", "D"):
        raise DataError(f"tasks/data/{relative}, row {row + 1}: expected question, 4 options, answer A-D")
    question, *options, answer = rows[row]
    return Example(
        id=f"mmlu/{subject}/{source}/{row}",
        input=render_options(question, options),
        target=f"({answer.strip()})",
        meta={"source": source, "row": row},
    )


def load(
    subject: str,
    *,
    seed: int | None = None,
    template: Template | str | None = None,
    rendering: str = "qa",
    first_round: SamplingParams | None = None,
) -> GenerationTask:
    """`rendering`: "qa" (one short round) or "gpo" (two rounds; `first_round` overrides round 1)."""
    no_seed(f"mmlu/{subject}", seed)
    options = rendering_options(
        f"mmlu/{subject}",
        rendering,
        qa_template=QA_TEMPLATE,
        qa_params=QA_PARAMS,
        answer_format=OPTION_FORMAT,
        template=template,
        first_round=first_round,
    )
    splits = {
        split: [_example(subject, source, row) for source, row in members]
        for split, members in gpo_membership("mmlu")[subject].items()
    }
    return GenerationTask(f"mmlu/{subject}", splits, option_match, description=describe(subject), **options)
