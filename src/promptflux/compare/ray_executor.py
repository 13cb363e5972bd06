"""Trials on a Ray cluster (or a local Ray instance): one remote task per trial.

Every attempt of a task calls the same `run_trial`, which resumes from the trial's run folder, so a
trial whose worker died (or that raised) continues where its last checkpoint left it when Ray retries
it. The comparison folder must be on a file system every node sees (trials write their run folders
there); the shared output cache defaults to each node's own user cache, since SQLite's WAL mode needs a
local disk. Ray is imported only here.

GPU scheduling (`num_gpus=1` for a trial on cuda, or on "auto" when the cluster has GPUs) follows Ray's
documented resource model but has not been run on a GPU machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from promptflux.compare.local import OnDone
from promptflux.compare.trials import Trial, one_line, quiet_worker, run_trial, write_error
from promptflux.errors import ConfigError

MAX_RETRIES = 2  # attempts after the first; each resumes from the trial's folder


def needs_gpu(device: str, cluster_gpus: float) -> bool:
    """Whether a trial on `device` must be scheduled with a GPU of its own."""
    if device.startswith("cuda"):
        return True
    return device == "auto" and cluster_gpus > 0


def ray_trial(path: str, spec: dict[str, Any], cache_path: str | None, threads: int, cwd: str) -> None:
    """The remote task: relative paths in the spec (custom:<spec.yaml>) resolve from the driver's folder."""
    quiet_worker()
    if os.path.isdir(cwd):
        os.chdir(cwd)
    run_trial(path, spec, cache_path, threads)


def run_ray(
    trials: Sequence[Trial],
    *,
    address: str | None,
    jobs: int | None,
    cache_path: str | None,
    on_done: OnDone | None = None,
    max_retries: int = MAX_RETRIES,
) -> dict[Trial, str | None]:
    """Run `trials` as Ray tasks; `address` None or "local" starts a local Ray instance."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'ray>=2.40'") from None
    for t in trials:
        if t.spec.device.startswith("cuda:"):
            raise ConfigError(
                f"on Ray each trial gets one GPU of its own: use --device cuda or auto, not {t.spec.device!r}"
            )
    started = not ray.is_initialized()
    if started:
        if address in (None, "", "local"):
            ray.init(include_dashboard=False)
        else:
            ray.init(address=address)
    outcome: dict[Trial, str | None] = {}
    try:
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 1))
        gpus = float(resources.get("GPU", 0))
        per_trial = max(1, cpus // jobs) if jobs else 1  # torch threads = the CPUs Ray reserves
        remote = ray.remote(ray_trial)
        refs = {}
        for t in trials:
            ref = remote.options(
                num_cpus=per_trial,
                num_gpus=1 if needs_gpu(t.spec.device, gpus) else 0,
                max_retries=max_retries,
                retry_exceptions=True,
                name=f"promptflux trial {t.name}",
            ).remote(str(t.path), t.spec.model_dump(mode="json"), cache_path, per_trial, os.getcwd())
            refs[ref] = t
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                trial = refs[ref]
                try:
                    ray.get(ref)
                    error = None
                except Exception as e:  # RayTaskError wraps the trial's own exception as .cause
                    cause = getattr(e, "cause", None)
                    error = one_line(cause if isinstance(cause, BaseException) else e)
                    write_error(trial.path, error, f"after {max_retries + 1} attempts on Ray:\n{e}")
                outcome[trial] = error
                if on_done is not None:
                    on_done(trial, error)
    finally:
        if started:
            ray.shutdown()
    return outcome
