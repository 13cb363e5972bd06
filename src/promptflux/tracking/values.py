"""What a tracker logs, as plain data: pure functions of a run's config, step records and result.

params(config)          the resolved run config (secrets stripped) as flat `a.b` -> text pairs
step_metrics(record)    a `step` record (an event line, or what the driver hands `on_step`):
                        its numeric summary values and the budget counters (calls and tokens per
                        role, wall seconds) under `budget/`
result_metrics(result)  result.json: validation and test score of every named prompt (the chosen
                        one, no instruction, the human one …) with the test interval, and the
                        final counters
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from promptflux.runs.folder import strip_secrets

MAX_PARAM = 6000  # MLflow's longest param value
BAD_KEY = re.compile(r"[^A-Za-z0-9_\-./ ]")


def key(name: str) -> str:
    """A metric or param name every tracking store accepts: 'human instruction' -> 'human_instruction'."""
    return BAD_KEY.sub("_", name.replace(" ", "_"))


def params(config: dict[str, Any]) -> dict[str, str]:
    """The config as flat params; nested keys joined by '.', lists as JSON, long values cut."""
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, value in node.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{name}.")
            else:
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                out[key(prefix + str(name))] = text[:MAX_PARAM]

    walk(strip_secrets(config), "")
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def step_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Numeric summary values (best_val, the method's own: best_dev, loss …) and budget counters."""
    out = {}
    for name, value in record.items():
        number = _number(value)
        if name not in ("step", "kind") and number is not None:
            out[key(name)] = number
    for name, value in (record.get("budget") or {}).items():
        number = _number(value)
        if number is not None:
            out[f"budget/{key(name)}"] = number
    return out


def result_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Per named prompt: `val/<name>`, `test/<name>` with `_ci_low`/`_ci_high`/`_n`; final counters."""
    out = {}
    for name, row in (result.get("prompts") or {}).items():
        name = key(name)
        for field, value in (
            (f"val/{name}", row.get("val")),
            (f"test/{name}", row.get("test")),
            (f"test/{name}_ci_low", (row.get("test_ci95") or [None, None])[0]),
            (f"test/{name}_ci_high", (row.get("test_ci95") or [None, None])[1]),
            (f"test/{name}_n", row.get("test_n")),
        ):
            number = _number(value)
            if number is not None:
                out[field] = number
    for name, value in (result.get("budget") or {}).items():
        number = _number(value)
        if number is not None:
            out[f"final/{key(name)}"] = number
    return out
