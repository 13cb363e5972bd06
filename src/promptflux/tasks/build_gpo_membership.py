"""Maintainer tool (not used at run time): rebuild GPO's splits as *membership* in the MIT source files.

The GPO repository ships its BBH / MMLU / GSM8K / WSC splits without a licence, so promptflux does not
redistribute those files. Instead this script matches every GPO item to the row it came from in the
MIT-licensed sources that the package does ship, and writes only the indices:

    {"bbh":   {task:    {split: [example index, ...]}},
     "mmlu":  {subject: {split: [[source split, row], ...]}},
     "gsm8k": {split: [[source split, line], ...]}}

Split names are ours: GPO's `eval` becomes `dev`, `few_shot_examples` becomes `few_shot`; `train`, `test`
and `format` keep their names. Lists keep GPO's item order, so a loader reproduces GPO's splits exactly.

WSC has no other copy than GPO's, and its items (the Winograd Schema Challenge, CC BY 4.0) are
re-serialised into promptflux's own schema (`wsc/wsc.jsonl`) instead of being matched.

Usage (from a checkout, once, after the shared data changes):

    PYTHONPATH=src python -m promptflux.tasks.build_gpo_membership /path/to/shared/data [--out DIR]

It prints match statistics and every item it could not match, with the closest source candidate.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

GPO_SPLITS = {
    "train": "train",
    "eval": "dev",
    "test": "test",
    "few_shot_examples": "few_shot",
    "format": "format",
}
MMLU_SOURCES = ("test", "dev", "val_sep2020")
# Where GPO drew each split from, tried first when an MMLU question occurs in several source files.
MMLU_PREFERRED = {"train": "test", "dev": "test", "test": "test", "few_shot": "dev", "format": "val_sep2020"}
LETTERS = "ABCD"


def norm(text: str) -> str:
    """Collapse whitespace runs (defensive: today every matched item is also equal byte for byte)."""
    return " ".join(str(text).split())


def read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    sys.exit(f"error: {path}, line {line_no}: malformed JSON ({err.msg})")


def mmlu_render(row: list[str]) -> tuple[str, str]:
    """The (input, output) pair GPO builds from one MMLU CSV row: question plus "(A) .." lines, "(C)"."""
    question, *options, answer = row
    lines = [question] + [f"({letter}) {option}" for letter, option in zip(LETTERS, options)]
    return "\n".join(lines), f"({answer.strip()})"


class Pool:
    """Source items keyed by normalised content; each source item can be claimed by one GPO item only.

    Claiming (rather than looking up) keeps duplicates apart: BBH sports_understanding holds two items
    twice (indices 27/155 and 80/227), and each copy must land in exactly one GPO split.
    """

    def __init__(self) -> None:
        self._free: dict[str, list[tuple]] = defaultdict(list)
        self.claimed: set[tuple] = set()

    def add(self, key: str, ref: tuple) -> None:
        self._free[key].append(ref)

    def claim(self, key: str, prefer: str | None = None) -> tuple | None:
        refs = [ref for ref in self._free.get(key, ()) if ref not in self.claimed]
        if not refs:
            return None
        ref = next((ref for ref in refs if ref[0] == prefer), refs[0])
        self.claimed.add(ref)
        return ref

    def closest(self, key: str) -> str:
        best = difflib.get_close_matches(key, list(self._free), n=1, cutoff=0.0)
        return best[0] if best else "<none>"


class Stats:
    """Counts exact / near / missing matches per family and keeps the non-exact ones for the report."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: {"exact": 0, "near": 0, "missing": 0})
        self.notes: list[str] = []

    def record(self, family: str, status: str, where: str, key: str, pool: Pool, found: str = "") -> None:
        self.counts[family][status] += 1
        if status == "near":
            self.notes.append(f"NEAR {where}: GPO {key[:300]!r}\n    ours {found[:300]!r}")
        elif status == "missing":
            self.notes.append(f"MISSING {where}: {key[:160]!r}\n    closest: {pool.closest(key)[:160]!r}")


def gpo_items(folder: Path) -> Iterable[tuple[str, Path]]:
    for gpo_name, ours in GPO_SPLITS.items():
        path = folder / f"{gpo_name}.jsonl"
        if path.exists():
            yield ours, path


def build_bbh(root: Path, stats: Stats) -> dict:
    out: dict[str, dict[str, list[int]]] = {}
    for task_dir in sorted((root / "gpo" / "BIG-Bench-Hard").iterdir()):
        source = json.loads((root / "bbh" / "data" / f"{task_dir.name}.json").read_text(encoding="utf-8"))
        pool = Pool()
        for index, ex in enumerate(source["examples"]):
            pool.add(norm(ex["input"]) + " => " + norm(ex["target"]), ("bbh", index))
        splits: dict[str, list[int]] = {}
        for split, path in gpo_items(task_dir):
            splits[split] = []
            for item_no, item in enumerate(read_jsonl(path)):
                key = norm(item["input"]) + " => " + norm(item["target"])
                ref = pool.claim(key)
                stats.record(
                    "bbh", "exact" if ref else "missing", f"bbh/{task_dir.name}/{split}#{item_no}", key, pool
                )
                if ref is not None:
                    splits[split].append(ref[1])
        out[task_dir.name] = splits
    return out


# pandas, which GPO used to read the CSVs, parses these option strings as NaN and prints them as "nan";
# the only one that occurs in MMLU is the option "None".
PANDAS_NA = {
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
}
PANDAS_NA |= {"N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
NEAR_RATIO = 0.8  # question similarity needed to accept a re-worded question with identical options/answer


def mmlu_keys(row: list[str]) -> list[str]:
    text, answer = mmlu_render(row)
    keys = [norm(text) + " => " + answer]
    as_pandas = [*row[:1], *("nan" if opt in PANDAS_NA else opt for opt in row[1:5]), row[5]]
    if as_pandas != row:
        keys.append(norm(mmlu_render(as_pandas)[0]) + " => " + answer)
    return keys


def near_mmlu(item: dict, rows: dict[tuple, list[str]], pool: Pool, prefer: str) -> tuple | None:
    """The unclaimed row with the same options and answer whose question reads almost the same.

    Covers the few GPO `format` items that come from the canonical MMLU validation split, which we do
    not have; the Sep-2020 snapshot we ship holds the same question with older wording.
    """
    question, *option_lines = item["input"].split("\n")
    options = [norm(line[4:]) for line in option_lines]
    best, best_ratio = None, NEAR_RATIO
    for ref, row in rows.items():
        if ref in pool.claimed or [norm(o) for o in row[1:5]] != options or f"({row[5]})" != item["output"]:
            continue
        ratio = (
            difflib.SequenceMatcher(None, norm(row[0]), norm(question)).ratio() + (ref[0] == prefer) * 1e-6
        )
        if ratio > best_ratio:
            best, best_ratio = ref, ratio
    if best is not None:
        pool.claimed.add(best)
    return best


def build_mmlu(root: Path, stats: Stats) -> dict:
    out: dict[str, dict[str, list[list]]] = {}
    for subject_dir in sorted((root / "gpo" / "MMLU").iterdir()):
        subject = subject_dir.name
        pool, rows = Pool(), {}
        for source in MMLU_SOURCES:
            path = root / "mmlu" / source / f"{subject}_{'val' if source == 'val_sep2020' else source}.csv"
            with path.open(encoding="utf-8", newline="") as handle:
                for row_no, row in enumerate(csv.reader(handle)):
                    rows[(source, row_no)] = row
                    for key in mmlu_keys(row):
                        pool.add(key, (source, row_no))
        splits: dict[str, list[list]] = {}
        for split, path in gpo_items(subject_dir):
            splits[split] = []
            for item_no, item in enumerate(read_jsonl(path)):
                key = norm(item["input"]) + " => " + norm(item["output"])
                where = f"mmlu/{subject}/{split}#{item_no}"
                ref = pool.claim(key, prefer=MMLU_PREFERRED[split])
                status = "exact" if ref else "missing"
                if ref is None:
                    ref = near_mmlu(item, rows, pool, MMLU_PREFERRED[split])
                    status = "near" if ref else "missing"
                stats.record("mmlu", status, where, key, pool, found=rows[ref][0] if ref else "")
                if ref is not None:
                    splits[split].append(list(ref))
        out[subject] = splits
    return out


def build_gsm8k(root: Path, stats: Stats) -> dict:
    pool = Pool()
    for source in ("train", "test"):
        for line_no, item in enumerate(read_jsonl(root / "gsm8k" / f"{source}.jsonl")):
            pool.add(norm(item["question"]) + " => " + norm(item["answer"]), (source, line_no))
    splits: dict[str, list[list]] = {}
    for split, path in gpo_items(root / "gpo" / "reasoning" / "GSM8K"):
        splits[split] = []
        for item_no, item in enumerate(read_jsonl(path)):
            key = norm(item["input"]) + " => " + norm(item["solution"])
            ref = pool.claim(key)
            stats.record("gsm8k", "exact" if ref else "missing", f"gsm8k/{split}#{item_no}", key, pool)
            if ref is not None:
                splits[split].append(list(ref))
    return splits


WSC_PATTERN = re.compile(
    r"^(?P<text>.*?)\s*(?P<question>What does the pronoun \"(?P<pronoun>[^\"]+)\" refer to\?)$"
)


def build_wsc(root: Path) -> list[dict]:
    """Re-serialise GPO's WSC items into promptflux's schema (one JSON object per item)."""
    rows: list[dict] = []
    for split, path in gpo_items(root / "gpo" / "common-nlp" / "WSC"):
        for item_no, item in enumerate(read_jsonl(path)):
            first, *option_lines = item["input"].split("\n")
            found = WSC_PATTERN.match(first.strip())
            options = [re.sub(r"^\([AB]\)\s*", "", line).strip() for line in option_lines]
            answer = item["output"].strip().strip("()")
            if not found or len(options) != 2 or answer not in ("A", "B"):
                sys.exit(f"error: {path}, line {item_no + 1}: unexpected WSC item layout")
            rows.append(
                {
                    "id": f"{split}/{item_no}",
                    "split": split,
                    "text": found["text"],
                    "pronoun": found["pronoun"],
                    "options": options,
                    "answer": answer,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_data", type=Path, help="folder holding bbh/, mmlu/, gsm8k/ and gpo/")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args(argv)

    stats = Stats()
    membership = {
        "bbh": build_bbh(args.shared_data, stats),
        "mmlu": build_mmlu(args.shared_data, stats),
        "gsm8k": build_gsm8k(args.shared_data, stats),
    }
    wsc = build_wsc(args.shared_data)

    (args.out / "wsc").mkdir(parents=True, exist_ok=True)
    (args.out / "gpo_membership.json").write_text(json.dumps(membership, separators=(",", ":")) + "\n")
    with (args.out / "wsc" / "wsc.jsonl").open("w", encoding="utf-8") as handle:
        for row in wsc:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    for family, counts in stats.counts.items():
        print(f"{family}: " + ", ".join(f"{status} {n}" for status, n in counts.items()))
    print(f"wsc: re-serialised {len(wsc)} items")
    for note in stats.notes:
        print(note)


if __name__ == "__main__":
    main()
