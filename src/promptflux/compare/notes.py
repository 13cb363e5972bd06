"""The notes of a comparison's tables: why a trial did not spend its budget, stopped on it, or early."""

from __future__ import annotations

from typing import Any

UNDER_USED = 0.9  # a finished trial below this share of its target-call budget gets a note


def early_stop(result: dict[str, Any]) -> str | None:
    """Why a trial stopped before its steps and budget (patience or target score), or None."""
    from promptflux.runs.stopping import describe_end

    end = result.get("ended")
    return describe_end(end) if end and end["reason"] in ("patience", "target") else None


def budget_note(target_calls: int, budget: int, steps: int, stopped: str | None) -> str | None:
    """Why a trial did not spend exactly its budget, or that it stopped on it (None: used >= 90%)."""
    if stopped:
        return f"stopped on the budget at {target_calls} of {budget} target calls: {stopped}"
    if target_calls < UNDER_USED * budget:
        return f"used {target_calls} of {budget} target calls (finished its {steps} steps)"
    return None


def row_note(rows: list[dict[str, Any]], budget: int) -> str:
    done = [r for r in rows if r["status"] == "finished"]
    parts = []
    under = [
        r for r in done if not r["stopped"] and not r.get("early") and r["target_calls"] < UNDER_USED * budget
    ]
    if under:
        who = "" if len(under) == len(done) else _seeds(under) + ": "
        calls, steps = _span([r["target_calls"] for r in under]), _span([r["steps"] for r in under])
        parts.append(f"{who}used {calls} of {budget} target calls (finished its {steps} steps)")
    stopped = [r for r in done if r["stopped"]]
    if stopped:
        who = "" if len(stopped) == len(done) else " (" + _seeds(stopped) + ")"
        reasons = " / ".join(dict.fromkeys(r["stopped"].split(" (")[0] for r in stopped))
        parts.append(f"stopped on the budget{who}: {reasons}")
    early = [r for r in done if r.get("early")]
    if early:
        who = "" if len(early) == len(done) else " (" + _seeds(early) + ")"
        whys = " / ".join(dict.fromkeys(r["early"].split(": ", 1)[-1].split(" (since")[0] for r in early))
        parts.append(f"stopped early{who} after {_span([r['steps'] for r in early])} steps: {whys}")
    parts += [f"seed {r['seed']} failed: {r['error']}" for r in rows if r["status"] == "failed"]
    parts += [
        f"seed {r['seed']} {r['status']}" for r in rows if r["status"] in ("interrupted", "not started")
    ]
    return "; ".join(parts)


def _span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _seeds(rows: list[dict[str, Any]]) -> str:
    return ("seed " if len(rows) == 1 else "seeds ") + ", ".join(str(r["seed"]) for r in rows)
