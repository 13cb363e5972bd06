"""Finding 3: a torn event log is cut back, never padded or written into. Resume drops a torn final
line, keeps what is intact, refuses a log damaged in the middle, and a plot it reports always exists."""

from __future__ import annotations

import json

import pytest

from promptflux.errors import ConfigError
from promptflux.runs import EventLog, read_events
from promptflux.runs.events import intact_ends
from tests.faults.conftest import digest, events_bytes, quick_run, result_of, run_files, same_outcome, steps


@pytest.fixture()
def interrupted(tmp_path, task, tagging):
    folder = tmp_path / "run"
    assert quick_run(folder, task, stop_after=1) is None
    return folder


def checkpoint_offset(folder):
    return json.loads((folder / "checkpoint" / "state.json").read_text())["state"]["event_offset"]


def test_a_torn_final_line_after_the_checkpoint_is_dropped(interrupted, clean):
    with open(interrupted / "events.jsonl", "ab") as f:
        f.write(b'{"kind":"eval","prompt":"half a li')  # killed mid-write
    same_outcome(quick_run(interrupted, resume=True), clean)
    assert steps(interrupted) == list(range(len(steps(interrupted))))
    assert b"half a li" not in events_bytes(interrupted)


def test_a_log_cut_mid_line_before_the_checkpoint_is_never_padded(interrupted, clean):
    data = events_bytes(interrupted)
    cut = checkpoint_offset(interrupted) - 40  # inside the last line the checkpoint covers
    (interrupted / "events.jsonl").write_bytes(data[:cut])
    result = quick_run(interrupted, resume=True)
    log = events_bytes(interrupted)
    assert b"\x00" not in log
    assert all(json.loads(line) for line in log.splitlines())  # every line parses
    assert (
        result["prompts"] == clean["prompts"]
        and result["budget"]["target_calls"] == clean["budget"]["target_calls"]
    )
    assert (interrupted / "curve.png").exists()
    assert quick_run(interrupted, resume=True) == result  # resuming the finished run changes nothing


def test_a_zero_padded_tail_left_by_an_older_version_is_dropped(interrupted, clean):
    with open(interrupted / "events.jsonl", "ab") as f:
        f.write(b'{"kind":"eval"' + b"\x00" * 4096)
    same_outcome(quick_run(interrupted, resume=True), clean)
    assert b"\x00" not in events_bytes(interrupted)


@pytest.mark.parametrize("garbage", [b"\x00" * 100 + b"\n", b"not json\n", b"[1, 2]\n", b'{"no": "kind"}\n'])
def test_a_log_damaged_in_the_middle_is_refused_and_left_as_it_is(interrupted, garbage):
    lines = events_bytes(interrupted).splitlines(keepends=True)
    (interrupted / "events.jsonl").write_bytes(b"".join([*lines[:2], garbage, *lines[2:]]))
    before = digest(*run_files(interrupted))
    with pytest.raises(ConfigError, match="line 3 is not a JSON event") as err:
        quick_run(interrupted, resume=True)
    assert "\n" not in str(err.value)
    assert digest(*run_files(interrupted)) == before


def test_a_log_that_does_not_match_the_checkpoint_is_refused(interrupted):
    data, offset = events_bytes(interrupted), checkpoint_offset(interrupted)
    ends = set(intact_ends(interrupted / "events.jsonl"))
    for n in range(1, 100):  # an extra first line that puts the checkpoint's offset inside a line
        extra = b'{"kind":"x","pad":"' + b"y" * n + b'"}\n'
        if offset - len(extra) not in ends | {0}:
            break
    (interrupted / "events.jsonl").write_bytes(extra + data)
    before = digest(*run_files(interrupted))
    with pytest.raises(ConfigError, match="does not match the run's checkpoint"):
        quick_run(interrupted, resume=True)
    assert digest(*run_files(interrupted)) == before


def test_reports_on_a_damaged_log_are_one_line_errors(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"kind":"a"}\n\x00\x00\n{"kind":"b"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        list(read_events(log))


def test_truncating_past_the_end_never_pads(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    log.append("a")
    with pytest.raises(ValueError, match="shorter"):
        log.truncate_to(10_000)
    log.close()
    assert b"\x00" not in (tmp_path / "events.jsonl").read_bytes()


def test_a_lost_plot_is_redrawn_when_a_finished_run_is_resumed(tmp_path, task, tagging):
    folder = tmp_path / "run"
    result = quick_run(folder, task)
    (folder / "curve.png").unlink()
    assert quick_run(folder, resume=True) == result
    assert (folder / "curve.png").stat().st_size > 0


def test_a_torn_result_is_recomputed_without_new_calls(tmp_path, task, tagging):
    folder = tmp_path / "run"
    result = quick_run(folder, task)
    (folder / "result.json").write_text(json.dumps(result)[:50])
    again = quick_run(folder, resume=True)
    same_outcome(again, result)
    assert result_of(folder) == again


def test_a_deleted_log_keeps_the_run_going_from_its_checkpoint(interrupted, clean, caplog):
    (interrupted / "events.jsonl").unlink()
    result = quick_run(interrupted, resume=True)
    assert "its tail was lost" in caplog.text
    assert result["prompts"] == clean["prompts"]
    assert result["budget"]["target_calls"] == clean["budget"]["target_calls"]
