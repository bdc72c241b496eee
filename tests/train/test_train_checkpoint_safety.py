"""Checkpoints never unpickle: run state round-trips through safetensors + JSON, a pickled checkpoint folder is
refused before anything in it is read, and damaged parts give one clear error naming the file."""

import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmost_train.checkpoint import CheckpointError, list_checkpoints
from crossmost_train.commands.selftrain import run_selftrain
from crossmost_train.config import load_config
from crossmost_train.run_state import (
    StateFileError,
    capture_rng_state,
    load_state_file,
    restore_rng_state,
    save_state_file,
)

from . import _train_fixtures as fx


def _cfg(run_dir: Path, *extra: str):
    return load_config(
        ["tiny"],
        [f"run.output_dir={run_dir}", "schedule.epochs=1", "optim.global_batch_size=8", "run.progress_bar=false",
         "run.trackers=[]", *extra],
    )  # fmt: skip


def test_state_file_round_trips_every_value_exactly(tmp_path: Path) -> None:
    state = {
        "weights": {"a.weight": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int64)},
        "half": torch.randn(7).to(torch.bfloat16),
        "scalar": torch.tensor(3.25),
        "optimizer": {0: {"step": torch.tensor(4.0), "exp_avg": torch.randn(2)}, 1: {}},
        "groups": [{"lr": 1e-300, "betas": (0.9, 0.999), "params": [0, 1], "name": None, "fused": True}],
        "floats": [math.nan, math.inf, -0.0, 0.1 + 0.2],
        "array": np.arange(6, dtype=np.uint32),
    }
    path = tmp_path / "state.safetensors"
    save_state_file(path, state)
    back = load_state_file(path)
    assert torch.equal(back["weights"]["a.weight"], state["weights"]["a.weight"])
    assert back["half"].dtype == torch.bfloat16
    assert torch.equal(back["half"], state["half"])
    assert back["scalar"].shape == ()
    assert float(back["scalar"]) == 3.25
    assert set(back["optimizer"]) == {0, 1}
    assert torch.equal(back["optimizer"][0]["exp_avg"], state["optimizer"][0]["exp_avg"])
    assert back["groups"] == state["groups"]
    assert isinstance(back["groups"][0]["betas"], tuple)
    assert math.isnan(back["floats"][0])
    assert back["floats"][1:] == state["floats"][1:]
    assert math.copysign(1.0, back["floats"][2]) == -1.0
    assert back["array"].dtype == np.uint32
    assert back["array"].tolist() == list(range(6))
    from safetensors.torch import load_file

    assert set(load_file(str(path))) >= {"weights/a.weight", "weights/b"}  # an ordinary safetensors file


def test_rng_state_round_trips(tmp_path: Path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    path = tmp_path / "rng.safetensors"
    save_state_file(path, capture_rng_state())
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_state_file(path))
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[:2] == expected[:2]
    assert torch.equal(got[2], expected[2])


def test_state_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.safetensors"
    save_state_file(path, {"x": torch.randn(100)})
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(StateFileError, match=r"state\.safetensors is damaged or truncated"):
        load_state_file(path)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(path))
    with pytest.raises(StateFileError, match="not a crossmost run-state file"):
        load_state_file(path)
    with pytest.raises(TypeError, match="cannot store a object"):
        save_state_file(path, {"x": object()})


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_resume_from_a_pickled_checkpoint_is_refused_without_running_it(tmp_path: Path) -> None:
    parts = fx.fake_components()
    run = tmp_path / "run"
    run_selftrain(_cfg(run, "run.stop_after_steps=2"), parts)
    (checkpoint,) = list_checkpoints(run)
    marker = tmp_path / "executed"
    for name in ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "custom_checkpoint_2.pkl"):
        torch.save(_Payload(marker), checkpoint / name)
    torch.save(_Payload(marker), checkpoint / "random_states_0.pkl")
    meta = json.loads((checkpoint / "meta.json").read_text())
    meta.pop("format", None)  # a folder in Accelerate's layout
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as info:
        run_selftrain(_cfg(run, f"run.resume={checkpoint}"), parts)
    assert "custom_checkpoint_0.pkl" in str(info.value)
    assert "never unpickles" in str(info.value)
    assert not marker.exists(), "loading the checkpoint ran code from it"


def test_checkpoint_holds_no_pickle_and_resumes(tmp_path: Path) -> None:
    parts = fx.fake_components()
    run = tmp_path / "run"
    run_selftrain(_cfg(run, "run.stop_after_steps=2"), parts)
    (checkpoint,) = list_checkpoints(run)
    names = sorted(p.name for p in checkpoint.iterdir())
    assert names == ["meta.json", "model.safetensors", "optimizer.safetensors", "rng-0.safetensors",
                     "scheduler.safetensors", "teacher.safetensors"]  # fmt: skip
    for path in checkpoint.iterdir():
        data = path.read_bytes()
        assert not data.startswith(b"\x80")  # no pickle
        assert not data.startswith(b"PK")  # no torch.save zip


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate model.safetensors", "model.safetensors is damaged or truncated"),
        ("truncate optimizer.safetensors", "optimizer.safetensors is damaged or truncated"),
        ("drop a model tensor", "model.safetensors does not match the model's tensors (1 missing"),
        ("remove teacher.safetensors", "teacher.safetensors is missing"),
    ],
)
def test_damaged_checkpoint_parts_give_one_clear_error(tmp_path: Path, damage: str, message: str) -> None:
    parts = fx.fake_components()
    run = tmp_path / "run"
    run_selftrain(_cfg(run, "run.stop_after_steps=2"), parts)
    (checkpoint,) = list_checkpoints(run)
    action, name = damage.split(" ", 1)
    if action == "truncate":
        data = (checkpoint / name).read_bytes()
        (checkpoint / name).write_bytes(data[: len(data) // 2])
    elif action == "remove":
        (checkpoint / name).unlink()
    else:
        state = load_state_file(checkpoint / "model.safetensors")
        state.pop(next(iter(state)))
        save_state_file(checkpoint / "model.safetensors", state)
    with pytest.raises(CheckpointError) as info:
        run_selftrain(_cfg(run), parts)
    assert message in str(info.value)


def test_checkpoint_files_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        run_selftrain(_cfg(run, "run.stop_after_steps=1"), fx.fake_components())
    finally:
        os.umask(old)
    (checkpoint,) = list_checkpoints(run)
    assert (checkpoint.stat().st_mode & 0o777) == 0o755
    for path in [*checkpoint.iterdir(), run / "config.yaml"]:
        assert (path.stat().st_mode & 0o777) == 0o644, path.name
