"""RLPrompt 16-shot text classification: sst2, mr, cr, subj, trec, agnews, yelp2.

Each task has five data seeds (folders 16-100, 16-13, 16-21, 16-42, 16-87; RLPrompt's dataset_seed 0..4
in that order). Splits, as GFlowPO uses them:

- `train`: the seed's 16-shot train.tsv (16 examples per class), what the optimiser scores prompts on;
- `dev`:   the seed's dev.tsv, a separate 16 per class: validation and demonstration pool;
- `test`:  the task's test.tsv (the same file for every seed; yelp2 has none, see its description).

`dev="test"` holds a dev split of the same size out of test.tsv instead (a seeded draw of as many
examples per class, removed from test): for subj, whose upstream dev.tsv repeats train.tsv, this is the
only held-out validation and demonstration pool.

Files are kept in their order and example ids follow the row (`sst2/16-100/train/0`, `sst2/test/5`).
The upstream train/dev files are sorted by label, so shuffle (with your own seeded RNG) before taking
demonstrations or minibatches from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Literal

import numpy as np

from promptflux.errors import ConfigError, DataError
from promptflux.tasks._common import resolve_template
from promptflux.tasks._data import read_rows
from promptflux.tasks.base import ClassificationTask, Template
from promptflux.types import Example

SEEDS = (100, 13, 21, 42, 87)
DEFAULT_SEED = 100

_SENTIMENT = ("negative", "positive")
VERBALIZERS: dict[str, tuple[str, ...]] = {
    "sst2": _SENTIMENT,
    "mr": _SENTIMENT,
    "cr": _SENTIMENT,
    "yelp2": _SENTIMENT,
    "subj": ("subjective", "objective"),
    "agnews": ("World", "Sports", "Business", "Tech"),
    "trec": ("Description", "Entity", "Expression", "Human", "Location", "Number"),
}
# The target sees "<instruction>\n<Field>: <input>\n<Question>:" and the label is scored after it. Naming the
# field matters for small models: with SmolLM2-135M, SST-2 test accuracy (200 examples, no instruction) is
# 0.84 with "Review: x\nSentiment:" but 0.53 with the GFlowPO reference form "Input : x Output:".
_FIELDS = {"subj": ("Sentence", "Type"), "agnews": ("Article", "Topic"), "trec": ("Question", "Answer type")}
GFLOWPO_TEMPLATE = Template("{prompt} Input : {input} Output:")  # the reference code's rendering


def default_template(task: str) -> Template:
    field, question = _FIELDS.get(task, ("Review", "Sentiment"))
    return Template(f"{{prompt}}\n{field}: {{input}}\n{question}:")


# RLPrompt's own label words; they differ from ours only for the binary sentiment tasks.
RLPROMPT_SENTIMENT = ("terrible", "great")

_ABOUT = {
    "sst2": "SST-2 movie-review sentences, negative/positive.",
    "mr": "MR movie-review snippets (Pang & Lee 2005), negative/positive.",
    "cr": "CR customer product reviews (Hu & Liu 2004), negative/positive.",
    "subj": "SUBJ sentences (Pang & Lee 2004), subjective/objective. Upstream quirk: in every seed dev.tsv "
    "is byte-identical to train.tsv, so dev is not held out; `--task-option dev=test` holds 16 per class "
    "out of test.tsv instead.",
    "trec": "TREC question classification (Li & Roth 2002), 6 coarse answer types.",
    "agnews": "AG News headlines+lead, World/Sports/Business/Tech.",
    "yelp2": "Yelp review polarity, negative/positive. No test split is shipped (the 38k-review upstream "
    "test file could not be obtained), so split('test') raises an error; report dev results instead.",
}
TASKS = tuple(_ABOUT)
LICENCE = "MIT (RLPrompt splits); underlying corpora keep their own terms"


def describe(task: str) -> str:
    return (
        f"{_ABOUT[task]} RLPrompt 16-shot splits: train = 16/class, dev = another 16/class "
        "(validation + demonstration pool), test = official test. Files are sorted by label: shuffle "
        "before taking demonstrations. Data seeds 100 (default), 13, 21, 42, 87."
    )


@cache
def _rows(relative: str, n_labels: int) -> tuple[tuple[str, int], ...]:
    """(text, label) pairs of one RLPrompt TSV, validated once."""
    out = []
    for row_no, row in enumerate(read_rows(relative, delimiter="\t", header=True), start=2):
        if len(row) != 2 or not row[1].strip().isdigit() or int(row[1]) >= n_labels:
            raise DataError(
                f"tasks/data/{relative}, row {row_no}: expected '<text>\\t<label 0..{n_labels - 1}>'"
            )
        out.append((row[0], int(row[1])))
    return tuple(out)


def _verbalizer(task: str, verbalizer: str | Sequence[str]) -> tuple[str, ...]:
    default = VERBALIZERS[task]
    if verbalizer == "default":
        return default
    if verbalizer == "rlprompt":
        return RLPROMPT_SENTIMENT if default == _SENTIMENT else default
    if isinstance(verbalizer, str):
        raise ConfigError(
            f"unknown verbalizer {verbalizer!r} for {task!r}; use 'default', 'rlprompt' or a list"
        )
    words = tuple(str(word) for word in verbalizer)
    if len(words) != len(default) or len(set(words)) != len(words):
        raise ConfigError(f"verbalizer for {task!r} needs {len(default)} distinct words, got {list(words)}")
    return words


def _hold_out(test: list[Example], per_class: int, seed: int) -> tuple[list[Example], list[Example]]:
    """`per_class` examples of each label drawn from `test` (seeded), and the rest of `test` in order."""
    rng = np.random.default_rng(seed)
    by_label: dict[int | None, list[int]] = {}
    for i, ex in enumerate(test):
        by_label.setdefault(ex.label, []).append(i)
    taken = sorted(int(i) for idx in by_label.values() for i in rng.choice(idx, per_class, replace=False))
    chosen = set(taken)
    return [test[i] for i in taken], [ex for i, ex in enumerate(test) if i not in chosen]


def load(
    task: str,
    *,
    seed: int | None = None,
    verbalizer: str | Sequence[str] = "default",
    template: Template | str | None = None,
    dev: Literal["file", "test"] = "file",
) -> ClassificationTask:
    """One RLPrompt task for data seed `seed` (default 100); template="gflowpo" renders as the reference."""
    seed = DEFAULT_SEED if seed is None else seed
    if seed not in SEEDS:
        raise ConfigError(f"task {task!r}: data seed must be one of {', '.join(map(str, SEEDS))}; got {seed}")
    if dev not in ("file", "test") or (dev == "test" and task == "yelp2"):
        raise ConfigError(
            f"task {task!r}: dev must be 'file' or 'test' (yelp2 has no test split); got {dev!r}"
        )
    labels = _verbalizer(task, verbalizer)
    files = {"train": f"16-{seed}/train.tsv", "dev": f"16-{seed}/dev.tsv"}
    if task != "yelp2":
        files["test"] = "test.tsv"
    splits = {}
    for split, relative in files.items():
        prefix = f"{task}/test" if split == "test" else f"{task}/16-{seed}/{split}"
        rows = _rows(f"classification/{task}/{relative}", len(labels))
        splits[split] = [
            Example(id=f"{prefix}/{i}", input=text, target=labels[label], label=label)
            for i, (text, label) in enumerate(rows)
        ]
    if dev == "test":
        splits["dev"], splits["test"] = _hold_out(splits["test"], len(splits["dev"]) // len(labels), seed)
    return ClassificationTask(
        task,
        splits,
        labels,
        template=GFLOWPO_TEMPLATE
        if template == "gflowpo"
        else resolve_template(template, default_template(task)),
        description=describe(task),
    )
