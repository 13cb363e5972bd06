"""Finding 4: no lost or forged spend. The counters are recounted on resume from the ledger, the
checkpoint and the event log; each takes the largest record, so losing (or forging down) any one file
never frees budget, and a ledger that holds less than the others is reported."""

from __future__ import annotations

import json
import sqlite3

import pytest

from promptflux.errors import ConfigError
from promptflux.evaluation import OutputCache
from promptflux.runs import read_events
from tests.faults.conftest import quick_run, same_outcome


@pytest.fixture()
def interrupted(tmp_path, task, tagging):
    folder = tmp_path / "run"
    assert quick_run(folder, task, stop_after=1) is None
    return folder


def saved_usage(folder, role="target"):
    return json.loads((folder / "checkpoint" / "state.json").read_text())["state"]["usage"][role]


def delete_ledger(folder):
    for path in folder.glob("ledger.sqlite*"):
        path.unlink()


def mismatches(folder):
    return list(read_events(folder / "events.jsonl", kind="budget_mismatch"))


def test_a_deleted_ledger_keeps_the_spend_and_reports_the_mismatch(interrupted, clean, caplog):
    paid = saved_usage(interrupted)["calls"]
    assert paid > 0
    delete_ledger(interrupted)
    result = quick_run(interrupted, resume=True)
    assert "ledger.sqlite records 0 but the checkpoint and event log record" in caplog.text
    (event,) = [e for e in mismatches(interrupted) if e["role"] == "target"]
    assert event["counted"]["calls"] == paid and event["records"]["ledger"]["calls"] == 0
    assert result["budget"]["target_calls"] >= clean["budget"]["target_calls"]  # never under-reported
    assert result["prompts"] == clean["prompts"]


def test_a_deleted_ledger_cannot_lead_to_overspending_the_budget(tmp_path, task, tagging, clean):
    limit = clean["budget"]["target_calls"] - 1
    folder = tmp_path / "limited"
    assert quick_run(folder, task, stop_after=0, max_target_calls=limit) is None
    before = saved_usage(folder)["calls"]
    delete_ledger(folder)
    result = quick_run(folder, resume=True)
    paid_after = OutputCache(folder / "ledger.sqlite").usage("target").calls
    assert before + paid_after <= limit  # what was really asked for stays within --max-calls
    assert result["budget"]["target_calls"] <= limit and result["stopped"]


def test_a_deleted_checkpoint_is_replayed_from_the_ledger_exactly(interrupted, clean):
    import shutil

    shutil.rmtree(interrupted / "checkpoint")
    same_outcome(quick_run(interrupted, resume=True), clean)
    assert not mismatches(interrupted)


def test_a_ledger_that_lost_rows_is_outvoted_and_reported(interrupted, clean, caplog):
    with sqlite3.connect(interrupted / "ledger.sqlite") as db:
        db.execute("DELETE FROM outputs WHERE rowid % 2 = 0 AND role = 'target'")
    db.close()
    result = quick_run(interrupted, resume=True)
    assert [e["role"] for e in mismatches(interrupted)] == ["target"]
    assert result["budget"]["target_calls"] >= clean["budget"]["target_calls"]


def test_an_event_log_forged_down_changes_nothing(interrupted, clean, caplog):
    path = interrupted / "events.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if "budget" in event:
            event["budget"] = {k: 0 for k in event["budget"]}
        lines.append(json.dumps(event))
    text = "\n".join(lines) + "\n"
    state = json.loads((interrupted / "checkpoint" / "state.json").read_text())
    state["state"]["event_offset"] = len(text.encode())  # keep the log and checkpoint consistent
    (interrupted / "checkpoint" / "state.json").write_text(json.dumps(state))
    path.write_text(text)
    same_outcome(quick_run(interrupted, resume=True), clean)
    assert not mismatches(interrupted) and "ledger.sqlite records" not in caplog.text


def test_a_checkpoint_forged_down_changes_nothing(interrupted, clean):
    state = json.loads((interrupted / "checkpoint" / "state.json").read_text())
    for usage in state["state"]["usage"].values():
        usage.update(calls=0, prompt_tokens=0, completion_tokens=0)
    (interrupted / "checkpoint" / "state.json").write_text(json.dumps(state))
    same_outcome(quick_run(interrupted, resume=True), clean)


def test_a_checkpoint_forged_up_is_counted_and_reported_never_revised_down(interrupted, clean):
    state = json.loads((interrupted / "checkpoint" / "state.json").read_text())
    state["state"]["usage"]["target"]["calls"] += 1000
    (interrupted / "checkpoint" / "state.json").write_text(json.dumps(state))
    result = quick_run(interrupted, resume=True)
    assert result["budget"]["target_calls"] >= 1000
    assert mismatches(interrupted)


def test_a_torn_ledger_is_one_line_and_resumes_exactly_once_moved_aside(interrupted, clean):
    path = interrupted / "ledger.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ConfigError, match=r"ledger\.sqlite\* aside") as err:
        quick_run(interrupted, resume=True)
    assert "\n" not in str(err.value)
    delete_ledger(interrupted)
    result = quick_run(interrupted, resume=True)
    assert result["budget"]["target_calls"] >= clean["budget"]["target_calls"]


def test_optimizer_calls_survive_a_lost_ledger(interrupted, clean):
    paid = saved_usage(interrupted, "optimizer")["calls"]
    delete_ledger(interrupted)
    result = quick_run(interrupted, resume=True)
    assert result["budget"]["optimizer_calls"] >= max(paid, clean["budget"]["optimizer_calls"])
