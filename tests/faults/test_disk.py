"""A full disk or a read-only run folder: a one-line error, what was written stays valid, and the run
resumes exactly once there is room again."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys

import pytest

from promptflux.errors import StorageError
from promptflux.evaluation.cache import OutputCache
from promptflux.runs import EventLog, RunFolder, checkpoint
from tests.faults.conftest import digest, quick_run, run_files, same_outcome, steps


class FullDisk:
    """A file that takes `room` more bytes, writes what fits of the next write, then fails: ENOSPC."""

    def __init__(self, file, room: int) -> None:
        self.file, self.room = file, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.file.write(data[: self.room])
            self.file.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_a_full_disk_while_logging_is_one_line_and_resumes_exactly(
    tmp_path, task, tagging, clean, monkeypatch
):
    real_init = EventLog.__init__

    def init(self, path, fsync=True):
        real_init(self, path, fsync)
        self._file = FullDisk(self._file, room=6000)

    monkeypatch.setattr(EventLog, "__init__", init)
    folder = tmp_path / "run"
    with pytest.raises(StorageError, match="No space left on device; free space and resume") as err:
        quick_run(folder, task)
    assert "\n" not in str(err.value)
    assert not (folder / "events.jsonl").read_bytes().endswith(b"\n")  # a torn last line was left
    monkeypatch.setattr(EventLog, "__init__", real_init)
    same_outcome(quick_run(folder, resume=True), clean)
    assert steps(folder) == list(range(len(steps(folder))))


def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint(
    tmp_path, task, tagging, clean, monkeypatch
):
    real_save, calls = checkpoint.save, []

    def save(state, folder):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(state, folder)

    monkeypatch.setattr(checkpoint, "save", save)
    folder = tmp_path / "run"
    with pytest.raises(StorageError, match="the last one is kept"):
        quick_run(folder, task)
    assert checkpoint.load(folder / "checkpoint")["step"] == 1
    monkeypatch.setattr(checkpoint, "save", real_save)
    same_outcome(quick_run(folder, resume=True), clean)
    assert not (folder / "checkpoint.tmp").exists()


def test_a_full_disk_for_the_ledger_is_one_line_and_the_run_resumes(
    tmp_path, task, tagging, clean, monkeypatch
):
    real_init = OutputCache.__init__

    def init(self, path=None, *args, **kwargs):
        real_init(self, path, *args, **kwargs)
        if path is not None and str(path).endswith("ledger.sqlite"):
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            self._db.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite: "database or disk is full"

    monkeypatch.setattr(OutputCache, "__init__", init)
    folder = tmp_path / "run"
    with pytest.raises(StorageError, match="database or disk is full; free space") as err:
        quick_run(folder, task)
    assert "\n" not in str(err.value)
    monkeypatch.setattr(OutputCache, "__init__", real_init)
    result = quick_run(folder, resume=True)
    assert result["prompts"] == clean["prompts"]
    assert result["budget"]["target_calls"] >= clean["budget"]["target_calls"]


OPEN = """
import sys
from promptflux.errors import PromptfluxError
from promptflux.runs import RunFolder
try:
    RunFolder.open(sys.argv[1])
except PromptfluxError as e:
    print(type(e).__name__, e)
"""


def read_only(folder):
    """A command that opens `folder` read-only: by permissions, or (as root, whom they do not bind) on a
    read-only bind mount in a private mount namespace; None where neither is possible."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
        return [sys.executable, "-c", OPEN, str(folder)]
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        return None
    script = f'mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} {folder} && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-c", OPEN, str(folder)]


def test_a_read_only_run_folder_is_one_line_and_untouched(tmp_path):
    folder = tmp_path / "run"
    run = RunFolder.create(folder, {"task": "sst2"})
    run.events.append("step", step=0)
    run.save_checkpoint({"step": 1})
    run.close()
    before = digest(*run_files(folder))
    command = read_only(folder)
    if command is None:
        pytest.skip("cannot make a folder read-only here (root without mount namespaces)")
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60, env=child_env())
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)
    assert out.stdout.startswith("StorageError cannot lock the run folder"), out.stdout + out.stderr
    assert len(out.stdout.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert digest(*run_files(folder)) == before


def child_env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
