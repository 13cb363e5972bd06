"""Read the benchmark files shipped inside the package (`promptflux/tasks/data/`).

Everything goes through `importlib.resources`, so the loaders work from a source checkout, an installed
wheel or a zip; nothing here ever looks outside the package. Parsed files are cached per process with
`functools.cache`; row readers return tuples, and parsed JSON documents must be treated as read-only
(loaders copy what they need into fresh Examples).
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from promptflux.errors import DataError

if TYPE_CHECKING:  # importlib.resources.abc is new in Python 3.11
    from importlib.resources.abc import Traversable


def data_file(relative: str) -> Traversable:
    """The packaged data file at `relative` (a '/'-separated path under tasks/data)."""
    node = files("promptflux.tasks").joinpath("data")
    for part in relative.split("/"):
        node = node.joinpath(part)
    if not node.is_file():
        raise DataError(f"packaged data file tasks/data/{relative} is missing; reinstall promptflux")
    return node


def data_dir_names(relative: str) -> tuple[str, ...]:
    """Sorted entry names of a packaged data folder (for listing tasks without parsing files)."""
    node = files("promptflux.tasks").joinpath("data")
    for part in relative.split("/"):
        node = node.joinpath(part)
    return tuple(sorted(child.name for child in node.iterdir()))


def read_text(relative: str) -> str:
    return data_file(relative).read_text(encoding="utf-8")


@cache
def read_json(relative: str) -> Any:
    """Parsed JSON of a packaged file (cached; treat the result as read-only)."""
    try:
        return json.loads(read_text(relative))
    except json.JSONDecodeError as err:
        raise DataError(f"tasks/data/{relative}, line {err.lineno}: malformed JSON ({err.msg})") from None


@cache
def read_jsonl(relative: str) -> tuple[dict, ...]:
    rows = []
    for line_no, line in enumerate(read_text(relative).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataError(f"tasks/data/{relative}, row {line_no}: malformed JSON ({err.msg})") from None
    return tuple(rows)


@cache
def read_rows(relative: str, delimiter: str = ",", header: bool = False) -> tuple[tuple[str, ...], ...]:
    """Rows of a packaged CSV/TSV file, without the header row when `header` is set.

    TSV files are read with quoting off: the RLPrompt files hold bare quote characters in text.
    """
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(read_text(relative), newline=""), delimiter=delimiter, quoting=quoting)
    rows = tuple(tuple(row) for row in reader)
    return rows[1:] if header else rows


def gpo_membership(family: str) -> dict[str, Any]:
    """GPO's splits as indices into the shipped sources (see build_gpo_membership.py)."""
    return read_json("gpo_membership.json")[family]


def split_sizes(family: str, task: str | None = None) -> dict[str, int]:
    """Split sizes of a GPO-split task, read from the small membership file only."""
    node = gpo_membership(family)
    node = node[task] if task is not None else node
    return {split: len(members) for split, members in node.items()}
