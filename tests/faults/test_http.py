"""Finding 7 and the HTTP half of finding 8: a hung or garbage-streaming server is bounded by the
--timeout/--retries flags and never silent (waiting and retrying are shown); a missing key or server
URL is one line before any request is sent."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
import yaml

from promptflux.errors import BackendError, ConfigError
from promptflux.models import ModelOptions, load_model
from promptflux.types import GenRequest, SamplingParams
from tests.faults.conftest import one_line
from tests.models.fault_server import FaultServer, Hang, Reply, Trickle


def eval_cli(url, *flags, timeout=60):
    cmd = [
        sys.executable, "-m", "promptflux.cli", "eval", "--task", "sst2", "--split", "dev", "--limit", "1",
        "--model", "openai:m", "--base-url", url, "--no-cache", *flags,
    ]  # fmt: skip
    start = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return out, time.monotonic() - start


def test_a_hung_server_is_bounded_by_the_flags_and_shows_waiting_and_retrying():
    with FaultServer(default=Hang(seconds=60)) as srv:
        out, seconds = eval_cli(srv.url, "--timeout", "2", "--retries", "1")
    assert out.returncode == 2
    assert "waiting for http://127.0.0.1" in out.stderr and "no answer for" in out.stderr
    assert "retrying POST" in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "failed after 2 attempts" in errors[0] and "timed out after 2s" in errors[0]
    assert "Traceback" not in out.stderr
    assert 2 <= len(srv.hits) <= 4 and seconds < 40  # 2 attempts for each of the 2 label continuations


def test_a_server_streaming_garbage_slowly_times_out_per_attempt():
    with FaultServer(default=Trickle()) as srv:
        lm = load_model("openai:m", ModelOptions(base_url=srv.url, timeout=1.0, max_retries=1))
        start = time.monotonic()
        with pytest.raises(BackendError, match="failed after 2 attempts; last error: timed out"):
            lm.generate([GenRequest("hi", SamplingParams(max_new_tokens=2))])
        lm.close()
    assert time.monotonic() - start < 10 and len(srv.hits) == 2


def test_garbage_answers_are_retried_then_one_line():
    with FaultServer(default=Reply(body="<html>not json</html>", delay=0.2)) as srv:
        lm = load_model("openai:m", ModelOptions(base_url=srv.url, timeout=2.0, max_retries=2))
        with pytest.raises(BackendError, match="malformed response body") as err:
            lm.generate([GenRequest("hi", SamplingParams(max_new_tokens=2))])
        lm.close()
    assert "\n" not in str(err.value) and len(srv.hits) == 3


def test_waiting_is_reported_while_a_request_hangs(caplog):
    with FaultServer(default=Hang(seconds=5)) as srv:
        srv.push(Reply(delay=2.5))  # a slow answer, well within the timeout
        lm = load_model("openai:m", ModelOptions(base_url=srv.url, timeout=4.0, max_retries=0))
        with caplog.at_level(logging.WARNING, logger="promptflux"):
            lm.generate([GenRequest("hi", SamplingParams(max_new_tokens=2))])
        lm.close()
    assert "no answer for 2 s" in caplog.text


def test_timeout_and_retries_reach_the_backend_from_a_run_spec():
    from promptflux.recipe import RunSpec, model_options

    options = model_options(RunSpec(base_url="http://x/v1", timeout=3.5, max_retries=7))
    lm = load_model("openai:m", options)
    assert (lm.timeout, lm.max_retries) == (3.5, 7)
    default = load_model("openai:m", model_options(RunSpec(base_url="http://x/v1")))
    assert (default.timeout, default.max_retries) == (60.0, 4)


def test_an_unset_api_key_variable_is_one_line_and_sends_nothing(monkeypatch, cli):
    monkeypatch.delenv("MY_TEAM_KEY", raising=False)
    with FaultServer() as srv:
        code, err = cli(
            "eval", "--task", "sst2", "--model", "openai:m", "--base-url", srv.url, "--no-cache",
            "--api-key-env", "MY_TEAM_KEY",
        )  # fmt: skip
    assert code == 2 and "--api-key-env names $MY_TEAM_KEY, which is not set" in one_line(err)
    assert srv.hits == []


def test_openai_without_a_server_url_never_picks_a_public_api(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="needs a server: pass --base-url"):
        load_model("openai:gpt-4o-mini", ModelOptions())
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:9/v1")
    assert load_model("openai:m", ModelOptions()).base_url == "http://localhost:9/v1"


def test_compare_passes_timeout_and_retries_to_every_trial_and_ignores_them_as_a_change(tmp_path):
    from promptflux.compare.spec import parse_spec
    from promptflux.compare.trials import check_stored, plan_trials, run_spec

    grid = {"tasks": ["sst2"], "methods": ["fixed"], "max_target_calls": 10, "target": "openai:m"}
    spec = parse_spec({**grid, "timeout": 2.5, "max_retries": 1})
    trial = run_spec(spec, "sst2", "fixed", 0)
    assert (trial.timeout, trial.max_retries) == (2.5, 1)
    (first,) = plan_trials(spec, tmp_path)
    first.path.mkdir(parents=True)
    (first.path / "config.yaml").write_text(yaml.safe_dump(first.spec.model_dump(mode="json")))
    (again,) = plan_trials(parse_spec({**grid, "timeout": 9.0}), tmp_path)
    check_stored(again)  # a new timeout is not a different trial
