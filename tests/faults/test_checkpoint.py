"""Finding 1: a checkpoint holds data only. Planted code never runs; anything not data is refused with
one line; real training state (optimiser, scheduler, RNG, bf16 and 0-d tensors) round-trips exactly."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from promptflux.errors import ConfigError
from promptflux.runs import RunFolder, checkpoint
from tests.faults.conftest import digest, quick_run, run_files, same_outcome, steps


class Planted:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def interrupted(tmp_path, task, tagging):
    folder = tmp_path / "run"
    assert quick_run(folder, task, stop_after=1) is None
    return folder


def test_a_planted_pickle_checkpoint_is_refused_and_never_runs(tmp_path, interrupted):
    marker = tmp_path / "pwned"
    shutil.rmtree(interrupted / "checkpoint")
    (interrupted / "checkpoint").mkdir()
    (interrupted / "checkpoint" / "state.pt").write_bytes(pickle.dumps({"x": Planted(str(marker))}))
    before = digest(*run_files(interrupted))
    with pytest.raises(ConfigError, match="pickle checkpoint") as err:
        quick_run(interrupted, resume=True)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    assert digest(*run_files(interrupted)) == before  # refused before anything was written


def test_a_pickle_in_place_of_the_tensors_file_is_refused_and_never_runs(tmp_path, interrupted):
    marker = tmp_path / "pwned"
    (interrupted / "checkpoint" / "tensors.safetensors").write_bytes(pickle.dumps(Planted(str(marker))))
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        quick_run(interrupted, resume=True)
    assert not marker.exists()


def test_a_pickle_in_place_of_the_state_file_is_refused(tmp_path, interrupted):
    marker = tmp_path / "pwned"
    (interrupted / "checkpoint" / "state.json").write_bytes(pickle.dumps(Planted(str(marker))))
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        quick_run(interrupted, resume=True)
    assert not marker.exists()


def test_real_training_state_round_trips_exactly(tmp_path):
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2).to(torch.bfloat16)
    opt = torch.optim.AdamW(layer.parameters(), lr=0.1, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=4)
    layer(torch.ones(1, 3, dtype=torch.bfloat16)).sum().backward()
    opt.step()
    sched.step()
    rng = np.random.default_rng(7)
    rng.random(3)
    state = {
        "optimizer": opt.state_dict(),  # int keys, tuples, 0-d `step` tensors
        "scheduler": sched.state_dict(),
        "rng": rng.bit_generator.state,  # 128-bit integers
        "adapter": {k: v.clone() for k, v in layer.state_dict().items()},  # bf16
        "$odd": {"$tensor": "not a tag", 1.5: np.float32(2.0), None: (1, [2, (3,)])},
        "scores": {"a": np.float64(0.25), "b": float("nan")},
    }
    (tmp_path / "c").mkdir()
    checkpoint.save(state, tmp_path / "c")
    back = checkpoint.load(tmp_path / "c")
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    assert set(back["optimizer"]["state"]) == {0, 1}
    for k, v in opt.state_dict()["state"][0].items():
        assert (
            torch.equal(back["optimizer"]["state"][0][k], v)
            and back["optimizer"]["state"][0][k].dtype == v.dtype
        )
    assert back["scheduler"] == sched.state_dict()
    assert back["rng"] == rng.bit_generator.state
    assert all(torch.equal(back["adapter"][k], v) for k, v in state["adapter"].items())
    assert back["$odd"] == {"$tensor": "not a tag", 1.5: 2.0, None: (1, [2, (3,)])}
    assert back["scores"]["a"] == 0.25 and np.isnan(back["scores"]["b"])
    fresh = torch.optim.AdamW(layer.parameters(), lr=0.1)
    fresh.load_state_dict(back["optimizer"])  # loads into a live optimiser, state matched by param id
    assert fresh.state_dict()["state"][1]["exp_avg"].equal(opt.state_dict()["state"][1]["exp_avg"])
    assert "pickle" not in (tmp_path / "c" / "state.json").read_text()


def test_a_value_that_is_not_data_is_refused_when_saving(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(TypeError, match=r"state\.fn is a function"):
        checkpoint.save({"fn": lambda: 1}, tmp_path / "c")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("torn_state", "not a readable checkpoint"),
        ("torn_tensors", "not a readable checkpoint"),
        ("dangling_tensor", "missing from tensors.safetensors"),
        ("wrong_format", "not a format-1 promptflux checkpoint"),
        ("unknown_tag", "unknown tag"),
        ("no_state", "holds no state.json"),
        ("file_not_folder", "holds no state.json"),
        ("does_not_fit", "does not fit this run's method"),
        ("bad_offset", "no valid event_offset"),
        ("deep_nesting", "not a readable checkpoint"),
    ],
)
def test_a_damaged_checkpoint_is_one_line_and_nothing_is_written(interrupted, damage, message):
    ck = interrupted / "checkpoint"
    state_file = ck / "state.json"
    doc = json.loads(state_file.read_text())
    if damage == "torn_state":
        text = state_file.read_bytes()
        state_file.write_bytes(text[: len(text) // 2])
    elif damage == "torn_tensors":
        (ck / "tensors.safetensors").write_bytes((ck / "tensors.safetensors").read_bytes()[:5])
    elif damage == "dangling_tensor":
        doc["state"]["extra"] = {"$tensor": "t99"}
        state_file.write_text(json.dumps(doc))
    elif damage == "wrong_format":
        state_file.write_text(json.dumps({"format": 99, "state": {}}))
    elif damage == "unknown_tag":
        doc["state"]["extra"] = {"$class": "os.system", "$args": ["true"]}
        state_file.write_text(json.dumps(doc))
    elif damage == "no_state":
        state_file.unlink()
    elif damage == "file_not_folder":
        shutil.rmtree(ck)
        ck.write_text("not a folder")
    elif damage == "does_not_fit":
        del doc["state"]["optimizer"]
        state_file.write_text(json.dumps(doc))
    elif damage == "deep_nesting":  # a JSON bomb: refused, not a crash
        state_file.write_text("[" * 200_000 + "]" * 200_000)
    elif damage == "bad_offset":
        doc["state"]["event_offset"] = -5
        state_file.write_text(json.dumps(doc))
    before = digest(*run_files(interrupted))
    with pytest.raises(ConfigError, match=message) as err:
        quick_run(interrupted, resume=True)
    assert "\n" not in str(err.value)
    if damage != "does_not_fit":  # the method's state is restored after the log was rewound
        assert digest(*run_files(interrupted)) == before


def test_a_bad_checkpoint_moved_aside_is_replayed_from_the_ledger_exactly(interrupted, clean):
    (interrupted / "checkpoint" / "state.json").write_text("{torn")
    with pytest.raises(ConfigError, match="move it aside"):
        quick_run(interrupted, resume=True)
    shutil.move(interrupted / "checkpoint", interrupted.parent / "bad-checkpoint")
    same_outcome(quick_run(interrupted, resume=True), clean)  # nothing paid twice, nothing lost
    assert steps(interrupted) == list(range(len(steps(interrupted))))


def test_the_checkpoint_files_are_plain_json_and_safetensors(interrupted):
    names = sorted(p.name for p in (interrupted / "checkpoint").iterdir())
    assert names == ["state.json", "tensors.safetensors"]
    assert json.loads((interrupted / "checkpoint" / "state.json").read_text())["format"] == 1
    assert RunFolder.CHECKPOINT == "checkpoint"
