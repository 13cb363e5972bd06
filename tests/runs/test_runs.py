"""Run folders: the event log survives kill -9, checkpoints replace each other atomically, no secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from promptflux.errors import ConfigError
from promptflux.runs import RunFolder, read_events
from promptflux.runs.folder import strip_secrets


def test_events_append_in_order_and_truncate_back_to_a_checkpoint(tmp_path):
    run = RunFolder.create(tmp_path / "r", {"task": "sst2"})
    run.events.append("eval", prompt="a", scores=[1, 0])
    run.save_checkpoint({"step": 1})
    run.events.append("eval", prompt="b (after the checkpoint)")
    run.close()
    again = RunFolder.open(tmp_path / "r")
    state = again.load_checkpoint()
    assert state["step"] == 1
    again.events.append("eval", prompt="c")
    again.close()
    assert [e["prompt"] for e in read_events(tmp_path / "r" / "events.jsonl")] == ["a", "c"]


def test_a_partial_last_line_is_skipped(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"kind": "eval", "x": 1}\n{"kind": "ev')
    assert [e["x"] for e in read_events(log)] == [1]


def test_checkpoint_left_between_renames_is_recovered(tmp_path):
    run = RunFolder.create(tmp_path / "r", {})
    run.save_checkpoint({"step": 3})
    run.close()  # one writer per run folder: the first must let go before it is reopened
    (tmp_path / "r" / "checkpoint").rename(tmp_path / "r" / "checkpoint.old")  # killed mid-swap
    assert RunFolder.open(tmp_path / "r").load_checkpoint()["step"] == 3


def test_create_refuses_an_existing_run_and_open_needs_one(tmp_path):
    RunFolder.create(tmp_path / "r", {}).close()
    with pytest.raises(ConfigError, match="--resume"):
        RunFolder.create(tmp_path / "r", {})
    with pytest.raises(ConfigError, match="not a run folder"):
        RunFolder.open(tmp_path / "nothing")


def test_only_secret_keys_are_stripped():
    config = {"max_new_tokens": 12, "hf_token": "x", "password": "y", "api_key_env": "E", "tokens": 3}
    assert strip_secrets(config) == {"max_new_tokens": 12, "api_key_env": "E", "tokens": 3}


def test_config_is_written_without_secrets(tmp_path):
    config = {"model": {"base_url": "http://x", "api_key": "sk-123", "api_key_env": "OPENAI_API_KEY"}, "t": 1}
    assert strip_secrets(config) == {
        "model": {"base_url": "http://x", "api_key_env": "OPENAI_API_KEY"},
        "t": 1,
    }
    RunFolder.create(tmp_path / "r", config).close()
    assert "sk-123" not in (tmp_path / "r" / "config.yaml").read_text()


WRITER = """
import sys
from promptflux.runs import EventLog
log = EventLog(sys.argv[1])
i = 0
while True:
    log.append("tick", i=i, payload="x" * 500)
    i += 1
"""


def test_event_log_written_by_a_process_killed_with_sigkill_stays_readable(tmp_path):
    path = tmp_path / "events.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    deadline = time.monotonic() + 30
    while (not path.exists() or path.stat().st_size < 50_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    ticks = [e["i"] for e in read_events(path)]
    assert len(ticks) > 50 and ticks == list(range(len(ticks)))  # complete, in order, none torn
