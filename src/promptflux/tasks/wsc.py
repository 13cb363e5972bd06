"""Winograd Schema Challenge items in GPO's splits, registered as `wsc`.

The only copy we have is GPO's (50 train / 50 dev / 150 test / 10 few_shot / 10 format). The items are
CC BY 4.0 (Levesque, Davis & Morgenstern); build_gpo_membership.py re-serialised them into our own
schema, `data/wsc/wsc.jsonl`: {"id", "split", "text", "pronoun", "options": [2], "answer": "A"|"B"}.

Input: the sentence, 'What does the pronoun "<p>" refer to?', then "(A) .." / "(B) .." lines; target
"(A)" or "(B)"; metric `option_match`. `rendering="gpo"` scores in two rounds as the paper does (see
_common.py), asking for the option letter.
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
from promptflux.tasks._data import read_jsonl
from promptflux.tasks.base import GenerationTask, Template
from promptflux.tasks.metrics import option_match
from promptflux.types import Example, SamplingParams

LICENCE = "CC BY 4.0 (Winograd Schema Challenge; re-serialised from GPO's selection)"
SPLITS = ("train", "dev", "test", "few_shot", "format")
DESCRIPTION = (
    "Winograd Schema Challenge pronoun resolution, two options, with GPO's splits train/dev/test/few_shot/"
    "format. Target '(A)'/'(B)', option_match metric. Option rendering='gpo': the paper's two rounds (free "
    "answer up to 256 tokens, then a turn asking for the option letter only, which is scored)."
)


@cache
def _splits() -> dict[str, tuple[Example, ...]]:
    out: dict[str, list[Example]] = {split: [] for split in SPLITS}
    for row_no, row in enumerate(read_jsonl("wsc/wsc.jsonl"), start=1):
        try:
            question = f'{row["text"]} What does the pronoun "{row["pronoun"]}" refer to?'
            example = Example(
                id=f"wsc/{row['id']}",
                input=render_options(question, row["options"]),
                target=f"({row['answer']})",
            )
            out[row["split"]].append(example)
        except (KeyError, TypeError):
            raise DataError(f"tasks/data/wsc/wsc.jsonl, row {row_no}: missing or unknown field") from None
    return {split: tuple(examples) for split, examples in out.items()}


def sizes() -> dict[str, int]:
    return {split: len(examples) for split, examples in _splits().items()}


def load(
    *,
    seed: int | None = None,
    template: Template | str | None = None,
    rendering: str = "qa",
    first_round: SamplingParams | None = None,
) -> GenerationTask:
    """`rendering`: "qa" (one short round) or "gpo" (two rounds; `first_round` overrides round 1)."""
    no_seed("wsc", seed)
    options = rendering_options(
        "wsc",
        rendering,
        qa_template=QA_TEMPLATE,
        qa_params=QA_PARAMS,
        answer_format=OPTION_FORMAT,
        template=template,
        first_round=first_round,
    )
    return GenerationTask("wsc", _splits(), option_match, description=DESCRIPTION, **options)
