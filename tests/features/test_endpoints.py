"""Each role its own endpoint (issue 15, item 7): the target and the optimiser LLM reach their own
server with their own key variable; the shared --base-url/--api-key-env stay the default of both.

Two scripted OpenAI-compatible servers stand in for, say, a local vLLM (target) and a hosted API
(optimiser): every request must land on its role's server with its role's key, and no key may land
in a run folder."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from promptflux import recipe
from promptflux.compare import spec as grid
from promptflux.compare.trials import run_spec
from promptflux.evaluation import OutputCache
from promptflux.models import ModelOptions
from promptflux.models.openai_compat import OpenAICompatLM
from promptflux.optimizers.context import ModelPool
from promptflux.recipe.config import ModelAccess, resolve_run
from tests.faults.conftest import one_line
from tests.models.fault_server import FaultServer, Reply
from tests.optimizers.fakes import review_task_spec

A_KEY, B_KEY = "sk-target-0123456789", "sk-optimiser-9876543210"
# The optimiser's scripted answer: one instruction between OPRO's tags.
PROPOSAL = {
    "id": "x",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "<INS>Judge it.</INS>"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 5},
}


@pytest.fixture()
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGT_KEY", A_KEY)
    monkeypatch.setenv("OPT_KEY", B_KEY)


@pytest.fixture()
def task(tmp_path: Path) -> str:
    return review_task_spec(tmp_path, "{train: 6, dev: 4, test: 4}", copies=2)


def closed_port_url() -> str:
    """A URL nothing listens on (a port just released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def seen(server: FaultServer) -> set[tuple[str, str]]:
    return {(h.body.get("model"), h.headers.get("authorization")) for h in server.hits}


# ------------------------------------------------------------------------------------ layering (unit)
def test_a_role_without_its_own_endpoint_uses_the_shared_one():
    access = ModelAccess(
        base_url="http://shared/v1", api_key_env="SHARED", optimizer_base_url="http://opt/v1"
    )
    target, optimizer = access.model_options(role="target"), access.model_options(role="optimizer")
    assert (target.base_url, target.api_key_env) == ("http://shared/v1", "SHARED")
    assert (optimizer.base_url, optimizer.api_key_env) == ("http://opt/v1", "SHARED")
    assert access.model_options().base_url == "http://shared/v1"  # no role: the shared endpoint
    assert optimizer.url_flag == "--optimizer-base-url" and optimizer.key_flag == "--api-key-env"


def test_file_then_flags_layer_each_role(tmp_path):
    file = {
        "method": "opro",
        "base_url": "http://file-shared/v1",
        "target_base_url": "http://file-target/v1",
        "optimizer_api_key_env": "FILE_KEY",
    }
    spec = resolve_run(file, {"optimizer_base_url": "http://flag-opt/v1", "target_base_url": None})
    assert spec.target_base_url == "http://file-target/v1"  # a flag left out keeps the file's value
    assert spec.optimizer_base_url == "http://flag-opt/v1" and spec.optimizer_api_key_env == "FILE_KEY"
    assert spec.model_options(role="target").api_key_env == "OPENAI_API_KEY"


def test_one_spec_on_two_servers_is_two_models_and_a_local_spec_is_one():
    pool = ModelPool(
        ModelOptions(),
        {
            "target": ModelOptions(base_url="http://127.0.0.1:8001/v1"),
            "optimizer": ModelOptions(base_url="http://127.0.0.1:8002/v1"),
        },
    )
    target, optimizer = pool.get("openai:m", "target"), pool.get("openai:m", "optimizer")
    assert isinstance(target, OpenAICompatLM) and target is not optimizer
    # the fingerprint (and so every cache key) names the server: their answers never mix
    assert target.fingerprint() != optimizer.fingerprint()
    assert pool.get("tiny-random", "target") is pool.get("tiny-random", "optimizer")
    pool.close()


def test_compare_grid_yaml_and_flags_reach_every_trial(tmp_path):
    file = tmp_path / "grid.yaml"
    file.write_text(
        "tasks: [sst2]\nmethods: [fixed, opro]\nmax_target_calls: 10\ntarget_base_url: http://t/v1\n"
    )
    flags = {"optimizer_base_url": "http://o/v1", "optimizer_api_key_env": "OPT_KEY"}
    spec = grid.build_spec(grid.read_yaml(file), flags, {})
    trial = run_spec(spec, "sst2", "opro", 0)
    assert (trial.target_base_url, trial.optimizer_base_url) == ("http://t/v1", "http://o/v1")
    assert trial.optimizer_api_key_env == "OPT_KEY"


# ------------------------------------------------------------------------------- two servers (end to end)
def test_each_role_reaches_its_own_server_with_its_own_key_and_no_key_is_stored(tmp_path, task, keys):
    with FaultServer() as a, FaultServer(default=Reply(body=PROPOSAL)) as b:
        spec = recipe.make_spec(
            "opro", "quick", {"steps": 2}, task=task, target="openai:m", optimizer_model="openai:m",
            target_base_url=a.url, target_api_key_env="TGT_KEY",
            optimizer_base_url=b.url, optimizer_api_key_env="OPT_KEY", max_retries=0,
        )  # fmt: skip
        result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "cache.sqlite"))
    assert seen(a) == {("m", f"Bearer {A_KEY}")}  # target and validation calls only
    assert seen(b) == {("m", f"Bearer {B_KEY}")}  # optimiser calls only
    assert result["budget"]["target_calls"] > 0 and result["budget"]["optimizer_calls"] > 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["target_base_url"] == a.url and saved["optimizer_api_key_env"] == "OPT_KEY"
    for file in (tmp_path / "run").rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert A_KEY.encode() not in data and B_KEY.encode() not in data, file


def test_an_unreachable_optimiser_is_one_line_naming_its_url_while_the_target_works(
    tmp_path, task, keys, cli
):
    dead = closed_port_url()
    with FaultServer() as a:
        code, err = cli(
            "optimize", "--task", task, "--method", "opro", "--preset", "quick", "--set", "steps=1",
            "--target", "openai:m", "--optimizer-model", "openai:m", "--base-url", a.url,
            "--api-key-env", "TGT_KEY", "--optimizer-base-url", dead, "--retries", "0",
            "--run-dir", tmp_path / "run", "--cache", tmp_path / "cache.sqlite",
        )  # fmt: skip
    assert code == 2
    line = one_line(err)
    assert dead in line and a.url not in line
    assert a.hits and seen(a) == {("m", f"Bearer {A_KEY}")}  # the target (shared endpoint) was reached


def test_an_unset_role_key_variable_names_the_role_flag(tmp_path, task, cli, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    code, err = cli(
        "optimize", "--task", task, "--method", "opro", "--target", "tiny-random",
        "--optimizer-model", "openai:m", "--optimizer-base-url", "http://127.0.0.1:1/v1",
        "--optimizer-api-key-env", "NOPE_KEY", "--run-dir", tmp_path / "run",
    )  # fmt: skip
    assert code == 2 and "--optimizer-api-key-env names $NOPE_KEY, which is not set" in one_line(err)
    assert not (tmp_path / "run").exists()


def test_resume_keeps_each_roles_endpoint_and_may_change_only_its_key_variable(tmp_path, task, keys, cli):
    def stop(step: int, info: dict) -> None:
        raise Interrupted

    with FaultServer() as a, FaultServer(default=Reply(body=PROPOSAL)) as b:
        spec = recipe.make_spec(
            "opro", "quick", {"steps": 3}, task=task, target="openai:m", optimizer_model="openai:m",
            target_base_url=a.url, target_api_key_env="TGT_KEY",
            optimizer_base_url=b.url, optimizer_api_key_env="OPT_KEY", max_retries=0,
        )  # fmt: skip
        with pytest.raises(Interrupted):  # killed after its first step
            recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "cache.sqlite"), on_step=stop)
        common = ["--resume", tmp_path / "run", "--cache", tmp_path / "cache.sqlite"]
        code, err = cli("optimize", *common, "--target-base-url", b.url)
        assert code == 2 and "--target-base-url cannot change it" in one_line(err)
        a.hits.clear()
        b.hits.clear()
        code, err = cli("optimize", *common, "--optimizer-api-key-env", "TGT_KEY")
        assert code == 0, err
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert (saved["target_base_url"], saved["optimizer_base_url"]) == (a.url, b.url)
    assert saved["optimizer_api_key_env"] == "TGT_KEY"  # changed on resume, and saved
    assert a.hits and seen(a) == {("m", f"Bearer {A_KEY}")}  # the target: still its own server
    assert b.hits and seen(b) == {("m", f"Bearer {A_KEY}")}  # the optimiser: its server, the new key


class Interrupted(Exception):
    """Stands in for a kill after a step's checkpoint."""


# ---------------------------------------------------------------------------- real llama.cpp servers (slow)
@pytest.mark.slow
def test_two_real_servers_one_per_role(tmp_path, task, cli, monkeypatch):
    """The target on one llama.cpp server, the optimiser on another: first with the optimiser's server
    down (one line naming its URL, after the target was reached), then with both up (a finished run)."""
    from promptflux.evaluation import OutputCache as Ledger
    from tests.models.test_llamacpp_server import LlamaCppServer, smollm2_gguf

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    threads = ["--n_threads", "1"]
    flags = ["--task", task, "--method", "opro", "--preset", "quick", "--set", "steps=1",
             "--set", "candidates_per_step=1", "--set", "max_new_tokens=24", "--target", "openai:smollm2",
             "--optimizer-model", "openai:smollm2", "--retries", "0", "--timeout", "300",
             "--cache", tmp_path / "cache.sqlite"]  # fmt: skip
    with LlamaCppServer(smollm2_gguf(), alias="smollm2", extra_args=threads) as target:
        dead = closed_port_url()
        code, err = cli("optimize", *flags, "--target-base-url", target.base_url,
                        "--optimizer-base-url", dead, "--run-dir", tmp_path / "down")  # fmt: skip
        (line,) = [x for x in err.splitlines() if x.startswith("error:")]  # warnings may precede it
        assert code == 2 and dead in line and target.base_url not in line
        ledger = Ledger(tmp_path / "down" / "ledger.sqlite")
        assert ledger.usage("target").calls > 0 and ledger.usage("optimizer").calls == 0
        ledger.close()
        with LlamaCppServer(smollm2_gguf(), alias="smollm2", extra_args=threads) as optimizer:
            urls = ["--target-base-url", target.base_url, "--optimizer-base-url", optimizer.base_url]
            code, err = cli("optimize", *flags, *urls, "--run-dir", tmp_path / "up")
    assert code == 0, err
    saved = yaml.safe_load((tmp_path / "up" / "config.yaml").read_text())
    assert (saved["target_base_url"], saved["optimizer_base_url"]) == (target.base_url, optimizer.base_url)
    result = yaml.safe_load((tmp_path / "up" / "result.json").read_text())
    assert result["budget"]["target_calls"] > 0 and result["budget"]["optimizer_calls"] > 0
