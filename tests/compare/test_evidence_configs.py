"""The evidence grids in benchmarks/evidence/ run for hours; a typo in a knob should fail here, not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptflux.compare.spec import load_spec
from promptflux.compare.trials import plan_trials
from promptflux.tasks.registry import get_task

CONFIGS = sorted((Path(__file__).parents[2] / "benchmarks" / "evidence").glob("*.yaml"))


def test_the_evidence_configs_are_found() -> None:
    assert {p.name for p in CONFIGS} >= {"main.yaml", "ablations_gflowpo.yaml", "ablations_gpo.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_trial_of_an_evidence_config_resolves(path: Path, tmp_path: Path) -> None:
    spec = load_spec(path)
    trials = plan_trials(spec, tmp_path)
    assert len(trials) == len(spec.tasks) * len(spec.methods) * len(spec.seeds)
    for trial in trials:
        trial.spec.method_config()  # every knob exists and validates
    for task in spec.tasks:
        get_task(task, seed=spec.data_seed, **spec.task_options.get(task, {}))
