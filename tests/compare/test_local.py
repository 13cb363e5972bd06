"""The local executor's workers end with the comparison that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import multiprocessing, sys, time
from promptflux.compare.local import die_with_parent

def worker(path):
    die_with_parent()
    open(path, "w").write(str(__import__("os").getpid()))
    time.sleep(600)

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    ctx.Process(target=worker, args=(sys.argv[1],)).start()
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purpose
        return f.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl PR_SET_PDEATHSIG is Linux-only")
def test_a_worker_is_terminated_when_the_comparison_is_killed(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        deadline = time.time() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        assert alive(worker)
        parent.send_signal(signal.SIGKILL)  # no cleanup code of the parent runs
        parent.wait()
        deadline = time.time() + 10
        while alive(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the worker outlived the killed comparison"
    finally:
        parent.kill()
