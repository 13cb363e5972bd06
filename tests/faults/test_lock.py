"""Finding 2: one writer per run folder. A second process is refused with one line naming the holder,
before it touches any file; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from promptflux.errors import ConfigError
from promptflux.runs import RunFolder
from tests.faults.conftest import digest, one_line, quick_run, run_files, same_outcome

HOLD = """
import sys, time
from promptflux.runs import RunFolder
folder = RunFolder.open(sys.argv[1])
print("holding", flush=True)
time.sleep(600)
"""


def hold(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture()
def interrupted(tmp_path, task, tagging):
    folder = tmp_path / "run"
    assert quick_run(folder, task, stop_after=1) is None
    return folder


def test_a_second_opener_in_the_same_process_is_refused(tmp_path):
    first = RunFolder.create(tmp_path / "r", {"task": "sst2"})
    with pytest.raises(ConfigError, match=rf"in use by process {os.getpid()} on "):
        RunFolder.open(tmp_path / "r")
    first.close()
    RunFolder.open(tmp_path / "r").close()  # released on close


def test_a_second_resume_of_a_live_run_is_one_line_and_writes_nothing(interrupted, cli):
    holder = hold(interrupted)
    try:
        before = digest(*run_files(interrupted))
        code, err = cli("optimize", "--resume", interrupted, "--cache", interrupted.parent / "c.sqlite")
        assert code == 2
        assert f"in use by process {holder.pid}" in one_line(err)
        assert digest(*run_files(interrupted)) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_new_run_cannot_be_created_in_a_folder_being_created(tmp_path):
    first = RunFolder.create(tmp_path / "r", {"task": "a"})
    try:
        with pytest.raises(ConfigError, match=r"already holds a run|in use by"):
            RunFolder.create(tmp_path / "r", {"task": "b"})
    finally:
        first.close()
    assert "task: a" in (tmp_path / "r" / "config.yaml").read_text()


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(interrupted, clean):
    holder = hold(interrupted)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    time.sleep(0.1)
    same_outcome(quick_run(interrupted, resume=True), clean)


def test_the_lock_is_released_when_a_run_fails(interrupted):
    (interrupted / "checkpoint" / "state.json").write_text("{torn")
    with pytest.raises(ConfigError):
        quick_run(interrupted, resume=True)
    RunFolder.open(interrupted).close()  # the failed resume let go of the folder
    assert not (interrupted / RunFolder.OWNER).exists()


def test_a_garbled_owner_file_still_gives_one_line(tmp_path):
    first = RunFolder.create(tmp_path / "r", {"task": "sst2"})
    (tmp_path / "r" / RunFolder.OWNER).write_bytes(b"\x00\xff not json")
    try:
        with pytest.raises(ConfigError, match="in use by another process"):
            RunFolder.open(tmp_path / "r")
    finally:
        first.close()
