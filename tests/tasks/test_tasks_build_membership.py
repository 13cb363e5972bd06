"""The maintainer tool that rebuilds GPO membership, on a tiny synthetic copy of the shared data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from promptflux.tasks import build_gpo_membership


def jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def table(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


def make_tree(root: Path) -> None:
    bbh = [
        {"input": "q0", "target": "Yes"},
        {"input": "q1", "target": "No"},
        {"input": "q0", "target": "Yes"},
    ]
    (root / "bbh" / "data").mkdir(parents=True)
    (root / "bbh" / "data" / "t.json").write_text(json.dumps({"canary": "c", "examples": bbh}))
    gpo_bbh = root / "gpo" / "BIG-Bench-Hard" / "t"
    jsonl(gpo_bbh / "train.jsonl", [bbh[0]])
    jsonl(gpo_bbh / "eval.jsonl", [bbh[1]])
    jsonl(gpo_bbh / "test.jsonl", [{"input": " q0 ", "target": "Yes"}])  # duplicate, other spacing

    table(root / "mmlu" / "test" / "s_test.csv", [["Pick?", "a", "b", "None", "d", "C"]])
    table(root / "mmlu" / "dev" / "s_dev.csv", [["Dev?", "a", "b", "c", "d", "A"]])
    table(
        root / "mmlu" / "val_sep2020" / "s_val.csv",
        [["Which month has 315days?", "Mar", "Apr", "Jun", "Sep", "A"]],
    )
    gpo_mmlu = root / "gpo" / "MMLU" / "s"
    jsonl(gpo_mmlu / "train.jsonl", [{"input": "Pick?\n(A) a\n(B) b\n(C) nan\n(D) d", "output": "(C)"}])
    jsonl(
        gpo_mmlu / "few_shot_examples.jsonl", [{"input": "Dev?\n(A) a\n(B) b\n(C) c\n(D) d", "output": "(A)"}]
    )
    reworded = {"input": "Which month has 31 days?\n(A) Mar\n(B) Apr\n(C) Jun\n(D) Sep", "output": "(A)"}
    jsonl(gpo_mmlu / "format.jsonl", [reworded])

    jsonl(root / "gsm8k" / "train.jsonl", [{"question": "1+1?", "answer": "2\n#### 2"}])
    jsonl(root / "gsm8k" / "test.jsonl", [{"question": "2+2?", "answer": "4\n#### 4"}])
    gsm = root / "gpo" / "reasoning" / "GSM8K"
    jsonl(gsm / "train.jsonl", [{"input": "1+1?", "solution": "2\n#### 2", "output": 2}])
    jsonl(gsm / "test.jsonl", [{"input": "2+2?", "solution": "4\n#### 4", "output": 4}])

    item = 'Ann thanked Bo because she helped. What does the pronoun "she" refer to?\n(A) Ann\n(B) Bo'
    jsonl(root / "gpo" / "common-nlp" / "WSC" / "eval.jsonl", [{"input": item, "output": "(B)"}])


def test_membership_matches_by_content(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path / "shared")
    out = tmp_path / "out"
    build_gpo_membership.main([str(tmp_path / "shared"), "--out", str(out)])
    membership = json.loads((out / "gpo_membership.json").read_text())
    assert membership["bbh"] == {"t": {"train": [0], "dev": [1], "test": [2]}}
    assert membership["mmlu"]["s"] == {
        "train": [["test", 0]],  # GPO's "nan" is the option "None"
        "few_shot": [["dev", 0]],
        "format": [["val_sep2020", 0]],  # re-worded question, same options and answer
    }
    assert membership["gsm8k"] == {"train": [["train", 0]], "test": [["test", 0]]}
    wsc = [json.loads(line) for line in (out / "wsc" / "wsc.jsonl").read_text().splitlines()]
    assert wsc == [
        {
            "id": "dev/0",
            "split": "dev",
            "text": "Ann thanked Bo because she helped.",
            "pronoun": "she",
            "options": ["Ann", "Bo"],
            "answer": "B",
        }
    ]
    report = capsys.readouterr().out
    assert "bbh: exact 3, near 0, missing 0" in report
    assert "mmlu: exact 2, near 1, missing 0" in report


def test_unmatched_items_are_reported_not_guessed(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path / "shared")
    jsonl(
        tmp_path / "shared" / "gpo" / "BIG-Bench-Hard" / "t" / "test.jsonl", [{"input": "zz", "target": "No"}]
    )
    build_gpo_membership.main([str(tmp_path / "shared"), "--out", str(tmp_path / "out")])
    membership = json.loads((tmp_path / "out" / "gpo_membership.json").read_text())
    assert membership["bbh"]["t"]["test"] == []
    assert "MISSING bbh/t/test#0" in capsys.readouterr().out
