"""Finding 5: every numeric flag is range-checked at the edge (click), and every numeric key of a run
config by the RunSpec model: nothing runs on a zero, negative or nonsensical value."""

from __future__ import annotations

import pytest

from tests.faults.conftest import one_line

EVAL = ("eval", "--task", "sst2", "--model", "tiny-random")
OPT = ("optimize", "--task", "sst2", "--method", "fixed", "--target", "tiny-random")
COMPARE = ("compare", "--tasks", "sst2", "--methods", "fixed", "--target", "tiny-random")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        ((*EVAL, "--limit", "0"), "--limit"),
        ((*EVAL, "--limit", "-3"), "--limit"),
        ((*EVAL, "--max-calls", "0"), "--max-calls"),
        ((*EVAL, "--max-calls", "-5"), "--max-calls"),
        ((*EVAL, "--timeout", "0"), "--timeout"),
        ((*EVAL, "--retries", "-1"), "--retries"),
        ((*EVAL, "--data-seed", "-1"), "--data-seed"),
        ((*OPT, "--max-calls", "0"), "--max-calls"),
        ((*OPT, "--max-optimizer-calls", "-1"), "--max-optimizer-calls"),
        ((*OPT, "--test-examples", "0"), "--test-examples"),
        ((*OPT, "--seed", "-2"), "--seed"),
        ((*OPT, "--timeout", "-1"), "--timeout"),
        ((*COMPARE, "--max-calls", "-3"), "--max-calls"),
        ((*COMPARE, "--max-calls", "10", "--jobs", "0"), "--jobs"),
        ((*COMPARE, "--max-calls", "10", "--max-wall-seconds", "0"), "--max-wall-seconds"),
    ],
)
def test_a_bad_number_is_refused_before_anything_runs(tmp_path, cli, monkeypatch, args, flag):
    monkeypatch.chdir(tmp_path)
    code, err = cli(*args, "--cache", tmp_path / "c.sqlite")
    assert code == 2
    line = one_line(err)
    assert f"Invalid value for '{flag}'" in line
    assert not (tmp_path / "c.sqlite").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_target_calls", -3), ("max_optimizer_calls", 0), ("max_wall_seconds", 0), ("data_seed", -1)],
)
def test_a_bad_number_in_a_config_file_is_one_line(tmp_path, cli, monkeypatch, key, value):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(f"task: sst2\nmethod: fixed\ntarget: tiny-random\n{key}: {value}\n")
    code, err = cli("optimize", "--config", config, "--cache", tmp_path / "c.sqlite")
    assert code == 2
    assert key in one_line(err) and not (tmp_path / "runs").exists()


def test_eval_scores_exactly_limit_examples(tmp_path):
    import json

    from typer.testing import CliRunner

    from promptflux.cli import app

    out = CliRunner().invoke(
        app, [*EVAL, "--split", "dev", "--limit", "2", "--json", "--cache", str(tmp_path / "c.sqlite")]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["n"] == 2
