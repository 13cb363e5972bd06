"""Task names -> loaders. `get_task("bbh/navigate")`, `list_tasks()`.

Names: the RLPrompt classification tasks (`sst2`, `mr`, `cr`, `subj`, `trec`, `agnews`, `yelp2`),
`ii/<task>`, `bbh/<task>`, `mmlu/<subject>`, `gsm8k`, `wsc`, and `custom:<path to spec.yaml>`.
Listing is lazy: it reads folder names and the small GPO membership file, never the 57 MMLU CSVs;
parsed data is cached per process inside each loader module.

Adding a benchmark = one loader module with `load(...)`, `describe(...)` and `LICENCE`, plus one
entry in `_entries()`.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from types import MappingProxyType

from promptflux.errors import ConfigError
from promptflux.tasks import bbh, classification, custom, gsm8k, instruction_induction, mmlu, wsc
from promptflux.tasks._data import split_sizes
from promptflux.tasks.base import Task

CUSTOM_PREFIX = "custom:"


@dataclass(frozen=True)
class TaskInfo:
    """What `list_tasks` tells about a task without loading its examples."""

    name: str
    kind: str  # "classification" or "generation"
    description: str
    licence: str
    sizes: Mapping[str, int] | None = None  # split -> size; None when only known after loading


@dataclass(frozen=True)
class _Entry:
    info: TaskInfo
    loader: Callable[..., Task]


@lru_cache(maxsize=1)
def _entries() -> Mapping[str, _Entry]:
    """Every built-in task name with its info and loader (built once, read-only)."""
    families = (  # (name prefix, kind, loader module, task names, sizes known from GPO membership)
        ("", "classification", classification, classification.TASKS, False),
        ("ii/", "generation", instruction_induction, instruction_induction.task_names(), False),
        ("bbh/", "generation", bbh, bbh.task_names(), True),
        ("mmlu/", "generation", mmlu, mmlu.task_names(), True),
    )
    out: dict[str, _Entry] = {}
    for prefix, kind, module, names, gpo in families:
        for task in names:
            sizes = split_sizes(prefix.rstrip("/"), task) if gpo else None
            info = TaskInfo(prefix + task, kind, module.describe(task), module.LICENCE, sizes)
            out[info.name] = _Entry(info, partial(module.load, task))
    gsm8k_info = TaskInfo("gsm8k", "generation", gsm8k.DESCRIPTION, gsm8k.LICENCE, split_sizes("gsm8k"))
    out["gsm8k"] = _Entry(gsm8k_info, gsm8k.load)
    out["wsc"] = _Entry(TaskInfo("wsc", "generation", wsc.DESCRIPTION, wsc.LICENCE, wsc.sizes()), wsc.load)
    return MappingProxyType(out)


def list_tasks() -> list[TaskInfo]:
    """Every built-in task (custom tasks are addressed by path and not listed)."""
    return [entry.info for entry in _entries().values()]


def _check_options(name: str, loader: Callable[..., Task], options: Mapping[str, object]) -> None:
    accepted = [p for p in inspect.signature(loader).parameters.values() if p.kind is p.KEYWORD_ONLY]
    allowed = {p.name for p in accepted} - {"seed"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        hint = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(f"task {name!r} has no option {unknown[0]!r}; options: {hint}")


def get_task(name: str, *, seed: int | None = None, **options: object) -> Task:
    """Load a task by name. `seed` selects the data seed (classification) or split shuffle (custom)."""
    if name.startswith(CUSTOM_PREFIX):
        _check_options(name, custom.load, options)
        return custom.load(name.removeprefix(CUSTOM_PREFIX), seed=seed)
    entry = _entries().get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(_entries()), n=3, cutoff=0.6)
        hint = (
            f"did you mean {', '.join(map(repr, close))}?"
            if close
            else "see list_tasks() or use 'custom:<spec.yaml>'"
        )
        raise ConfigError(f"unknown task {name!r}; {hint}")
    _check_options(name, entry.loader, options)
    return entry.loader(seed=seed, **options)
