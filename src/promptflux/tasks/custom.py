"""User tasks from CSV / TSV / JSONL files plus a small YAML spec, registered as `custom:<spec.yaml>`.

Example spec (paths are relative to the spec file):

    name: tickets                 # optional, defaults to the spec file's stem
    file: tickets.csv             # one file, split by `splits` after a seeded shuffle ...
    splits: {train: 32, dev: 32, test: 200}      # counts, or fractions such as {train: 0.5, test: 0.5}
    seed: 0
    # files: {train: a.jsonl, dev: b.jsonl, test: c.jsonl}   # ... or one file per split, kept in order
    input_column: text
    target_column: label
    labels: [billing, bug, other]     # -> classification; or a mapping {"0": negative, "1": positive}
    # metric: exact_match             # -> generation task scored by this metric (see metrics.METRICS)
    template: "{prompt} Input : {input} Output:"   # optional

Bad data fails with one line naming the file and the row. Rows count from 1 and include the header
row of a CSV/TSV (so they match line numbers unless a quoted field spans lines); in JSONL a row is a line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError, model_validator

from promptflux.errors import ConfigError, DataError
from promptflux.tasks._common import GENERATION_TEMPLATE
from promptflux.tasks.base import ClassificationTask, GenerationTask, Task, Template
from promptflux.tasks.metrics import METRICS
from promptflux.types import Example, SamplingParams


class CustomTaskSpec(BaseModel):
    """What a user writes to turn a data file into a task; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    file: str | None = None
    splits: dict[str, int | float] | None = None
    files: dict[str, str] | None = None
    seed: int = 0
    input_column: str = "input"
    target_column: str = "target"
    labels: list[str] | dict[str, str] | None = None
    metric: str | None = None
    template: str | None = None
    chat: bool = False
    max_new_tokens: PositiveInt = 50
    stop: list[str] = ["\n"]
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> CustomTaskSpec:
        if (self.file is None) == (self.files is None):
            raise ValueError("give exactly one of 'file' (with 'splits') or 'files'")
        if self.file is not None and not self.splits:
            raise ValueError("'file' needs 'splits', e.g. {train: 32, test: 100} or {train: 0.5, test: 0.5}")
        if self.files is not None and self.splits is not None:
            raise ValueError("'splits' only applies to 'file'; with 'files' each file is one split")
        if (self.labels is None) == (self.metric is None):
            raise ValueError("give exactly one of 'labels' (classification) or 'metric' (generation)")
        if self.metric is not None and self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; choose from {', '.join(METRICS)}")
        if self.labels is not None and len(set(_label_words(self.labels))) < 2:
            raise ValueError("'labels' needs at least 2 distinct labels")
        if self.template is not None and "{input}" not in self.template:
            raise ValueError("'template' needs an {input} placeholder")
        sizes = list((self.splits or {}).values())
        if any(v <= 0 for v in sizes):
            raise ValueError("split sizes must be positive")
        fractions = [v for v in sizes if isinstance(v, float)]
        if fractions and (len(fractions) != len(sizes) or sum(fractions) > 1 + 1e-9):
            raise ValueError("split sizes must be all counts or all fractions summing to at most 1")
        return self


def _label_words(labels: list[str] | dict[str, str]) -> list[str]:
    return list(dict.fromkeys(labels.values() if isinstance(labels, dict) else labels))


def load_spec(path: str | Path) -> CustomTaskSpec:
    """Read and validate a YAML spec; every problem becomes a one-line ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: task spec not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"{path}: not a valid UTF-8 YAML file{line}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of spec keys at the top level")
    try:
        return CustomTaskSpec.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        msg = (
            "unknown key"
            if first["type"] == "extra_forbidden"
            else first["msg"].removeprefix("Value error, ")
        )
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise ConfigError(f"{path}: {loc + ': ' if loc else ''}{msg}{more}") from None


def _decode(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = data[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}, row {row}: not UTF-8 (byte 0x{data[err.start]:02x}); save it as UTF-8"
        ) from None


def _records(path: Path, spec: CustomTaskSpec) -> list[tuple[int, Any, Any]]:
    """(row number, input value, target value) for every data row of a CSV, TSV or JSONL file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _json_records(path, _decode(path), (spec.input_column, spec.target_column))
    if suffix in (".csv", ".tsv"):
        return _table_records(path, _decode(path), (spec.input_column, spec.target_column), suffix == ".tsv")
    raise ConfigError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv or .jsonl")


def _json_records(path: Path, text: str, columns: tuple[str, str]) -> list[tuple[int, Any, Any]]:
    out = []
    for row, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}, row {row}: malformed JSON ({err.msg})") from None
        if not isinstance(item, dict):
            raise DataError(f"{path}, row {row}: expected a JSON object")
        missing = [c for c in columns if c not in item]
        if missing:
            raise DataError(f"{path}, row {row}: no field {missing[0]!r}; fields: {', '.join(item)}")
        out.append((row, item[columns[0]], item[columns[1]]))
    return out


def _table_records(path: Path, text: str, columns: tuple[str, str], tsv: bool) -> list[tuple[int, Any, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tsv else ",")
    row, out = 1, []
    try:
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}, row 1: no header row")
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:  # which of the two columns would be read is a guess: refuse it
            raise DataError(f"{path}, row 1 (header): column {repeated[0]!r} appears more than once")
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{path}, row 1 (header): no column {missing[0]!r}; columns: {', '.join(header)}")
        where = [header.index(c) for c in columns]
        for row, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) <= max(where):
                raise DataError(f"{path}, row {row}: {len(fields)} fields, expected {len(header)}")
            out.append((row, fields[where[0]], fields[where[1]]))
    except csv.Error as err:
        raise DataError(f"{path}, row {row + 1}: unreadable {'TSV' if tsv else 'CSV'} ({err})") from None
    return out


def _examples(path: Path, spec: CustomTaskSpec, name: str) -> list[Example]:
    words = _label_words(spec.labels) if spec.labels is not None else []
    mapping = spec.labels if isinstance(spec.labels, dict) else {w: w for w in words}
    examples = []
    for row, raw_input, raw_target in _records(path, spec):
        text = "" if raw_input is None else str(raw_input)
        if not text.strip():
            raise DataError(f"{path}, row {row}: empty input in {spec.input_column!r}")
        answers = [str(a) for a in raw_target] if isinstance(raw_target, list) else [str(raw_target)]
        if raw_target is None or not answers or not answers[0].strip():
            raise DataError(f"{path}, row {row}: empty target in {spec.target_column!r}")
        ident = f"{name}/{path.name}/{row}"
        if spec.labels is None:
            examples.append(Example(ident, text, answers[0], tuple(answers) if len(answers) > 1 else ()))
            continue
        word = mapping.get(answers[0].strip())
        if word is None:
            expected = ", ".join(mapping)
            raise DataError(f"{path}, row {row}: unknown label {answers[0]!r}; expected one of {expected}")
        examples.append(Example(ident, text, word, label=words.index(word)))
    return examples


def _split_sizes(spec: CustomTaskSpec, n: int, path: Path) -> dict[str, int]:
    requested = spec.splits or {}
    if all(isinstance(v, int) for v in requested.values()):
        sizes = dict(requested)
        if sum(sizes.values()) > n:
            raise DataError(f"{path}: splits ask for {sum(sizes.values())} rows but the file has {n}")
        return sizes
    sizes = {split: math.floor(fraction * n) for split, fraction in requested.items()}
    if abs(sum(requested.values()) - 1) < 1e-9:  # fractions cover the file: the last split takes the rest
        last = list(sizes)[-1]
        sizes[last] += n - sum(sizes.values())
    return sizes


def build(spec: CustomTaskSpec, base_dir: Path, *, name: str, seed: int | None = None) -> Task:
    """The task a spec describes; relative data paths resolve against `base_dir`.

    `seed` (else `spec.seed`) orders the shuffle that splits a single `file`; `files` are kept in order.
    """
    splits: dict[str, list[Example]] = {}
    if spec.files is not None:
        for split, relative in spec.files.items():
            path = base_dir / relative
            splits[split] = _examples(path, spec, name)
            if not splits[split]:
                raise DataError(f"{path}: split {split!r} is empty (no data rows)")
    else:
        path = base_dir / str(spec.file)
        rows = _examples(path, spec, name)
        random.Random(spec.seed if seed is None else seed).shuffle(rows)
        start = 0
        for split, size in _split_sizes(spec, len(rows), path).items():
            if size == 0:
                raise DataError(
                    f"{path}: split {split!r} is empty ({len(rows)} rows, size {spec.splits[split]})"
                )
            splits[split], start = rows[start : start + size], start + size
    description = spec.description or f"Custom task from {spec.file or ', '.join(spec.files or {})}."
    if spec.labels is not None:
        template = Template(spec.template, spec.chat) if spec.template else Template(chat=spec.chat)
        return ClassificationTask(name, splits, _label_words(spec.labels), template, description)
    params = SamplingParams(max_new_tokens=spec.max_new_tokens, stop=tuple(spec.stop))
    template = Template(spec.template or GENERATION_TEMPLATE.text, spec.chat)
    return GenerationTask(name, splits, METRICS[str(spec.metric)], template, params, description)


def load(spec_path: str, *, seed: int | None = None) -> Task:
    """`custom:<spec_path>`: read the spec, then build the task from its files."""
    path = Path(spec_path).expanduser()
    spec = load_spec(path)
    return build(spec, path.parent, name=f"custom:{spec.name or path.stem}", seed=seed)
