"""Trials on this machine: up to `jobs` at once, each in its own process.

Separate processes (spawn, not fork: torch and a forked parent's threads do not mix) keep the trials
independent: a crash or an out-of-memory kill takes one trial, not the comparison. Each process gets
cores // jobs torch threads, so parallel trials share the CPU instead of oversubscribing it. With one
job the trials run in this process, one after the other (no start-up cost per trial).

A worker dies with the comparison: on Linux each one asks the kernel for SIGTERM when its parent goes
(a killed `compare` must not leave trials running on, writing into folders the next run will use);
the interrupted trials resume on the next run.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from promptflux.compare.trials import Trial, attempt_trial, one_line, write_error

OnDone = Callable[[Trial, "str | None"], None]  # (trial, one-line error or None)


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def run_local(
    trials: Sequence[Trial], *, jobs: int | None, cache_path: str | None, on_done: OnDone | None = None
) -> dict[Trial, str | None]:
    """Run `trials` to their end (or failure); returns each trial's one-line error (None: finished)."""
    outcome: dict[Trial, str | None] = {}

    def done(trial: Trial, error: str | None) -> None:
        outcome[trial] = error
        if on_done is not None:
            on_done(trial, error)

    cores = available_cores()
    jobs = max(1, min(jobs or cores, len(trials)))
    if jobs == 1:
        for trial in trials:
            done(trial, attempt_trial(str(trial.path), _spec(trial), cache_path, None))
        return outcome
    threads = max(1, cores // jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=die_with_parent) as pool:
        futures = {pool.submit(attempt_trial, str(t.path), _spec(t), cache_path, threads): t for t in trials}
        for future in as_completed(futures):
            trial = futures[future]
            try:
                error = future.result()
            except Exception as e:  # the worker process died (killed, out of memory) or never started
                error = f"the trial's process failed: {one_line(e)}"
                write_error(trial.path, error)
            done(trial, error)
    return outcome


def die_with_parent() -> None:
    """Worker initializer: SIGTERM this process when its parent exits (Linux prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):  # pragma: no cover
        return
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent was already gone before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _spec(trial: Trial) -> dict:
    return trial.spec.model_dump(mode="json")
