"""`pretrain` and `selftrain` on the streaming loader (``data.streaming=true``) through the command line: the runs
make the planned steps, write their checkpoint and model, keep a finite loss that a rerun with the same seed
reproduces, and a run stopped and resumed mid-epoch continues with the same losses as one that was not."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossmost_train.checkpoint import list_checkpoints
from crossmost_train.cli import main
from crossmost_train.logging_utils import read_metrics

from . import _train_fixtures as fx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.prepare_synthetic_target(
        tmp_path_factory.mktemp("synthetic-stream"), ["airplane", "bottle", "chair", "lamp"], objects_per_class=6,
        num_views=2, view_size=32, points=512, image_size=32, samples_per_shard=4, test_fraction=0.35,
    )  # fmt: skip


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(run) if r["kind"] == "train"]


def test_pretrain_streams_and_a_rerun_gives_the_same_losses(dataset: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = [f"data.root={dataset}", f"run.output_dir={out}", "data.streaming=true", "data.shuffle_buffer=4",
                "pretrain.epochs=1", "pretrain.batch_size_per_device=4"]  # fmt: skip
        assert main(["pretrain", "--task", "ulip", "-c", "tiny", *args]) == 0
        assert (out / "point_branch.safetensors").is_file()
        runs.append(_losses(out))
    train = json.loads((dataset / "manifest.json").read_text())["splits"]["train"]
    steps = sum(s["num_samples"] for s in train) // 4
    assert [step for step, _ in runs[0]] == list(range(1, steps + 1))
    assert all(loss == loss and abs(loss) < 1e6 for _, loss in runs[0])  # finite
    assert runs[0] == runs[1]


def test_selftrain_streams_and_resumes_mid_epoch_with_the_same_losses(dataset: Path, tmp_path: Path) -> None:
    common = ["-c", "tiny", f"data.root={dataset}", "data.streaming=true", "data.shuffle_buffer=4",
              "schedule.epochs=2", "run.checkpoint_every=1"]  # fmt: skip
    whole = tmp_path / "whole"
    assert main(["selftrain", *common, f"run.output_dir={whole}"]) == 0
    train = json.loads((dataset / "manifest.json").read_text())["splits"]["train"]
    steps = 2 * (sum(s["num_samples"] for s in train) // 8)
    reference = _losses(whole)
    assert [step for step, _ in reference] == list(range(1, steps + 1))
    assert all(loss == loss and abs(loss) < 1e6 for _, loss in reference)
    assert list_checkpoints(whole)[-1].name == f"step-{steps:08d}"
    assert (whole / "model").is_dir()
    results = json.loads((whole / "results.json").read_text())["self-trained student (last step)"]
    test = json.loads((dataset / "manifest.json").read_text())["splits"]["test"]
    assert results["num_samples"] == sum(s["num_samples"] for s in test)  # every test sample scored once
    assert main(["evaluate", "--run", str(whole), f"data.root={dataset}", "data.streaming=true"]) == 0
    again = json.loads((whole / "eval-test" / "results.json").read_text())["self-trained student (last step)"]
    assert again["num_samples"] == results["num_samples"]
    assert again["point"] == pytest.approx(results["point"])
    resumed = tmp_path / "resumed"
    assert main(["selftrain", *common, f"run.output_dir={resumed}", "run.stop_after_steps=1"]) == 0
    assert _losses(resumed) == reference[:1]
    assert main(["selftrain", *common, f"run.output_dir={resumed}"]) == 0
    assert _losses(resumed) == reference


def test_a_url_without_streaming_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["selftrain", "-c", "tiny", "data.root=https://example.invalid/data", f"run.output_dir={tmp_path}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "data.root=https://example.invalid/data is a URL" in err
    assert "add data.streaming=true" in err


def test_two_processes_stream_their_own_shards_and_score_every_test_sample_once(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "two"
    # torchrun starts the processes; ACCELERATE_USE_CPU makes them one gloo group on the CPU.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "crossmost_train",
           "selftrain", "-c", "tiny", f"data.root={dataset}", "data.streaming=true", "schedule.epochs=2",
           f"run.output_dir={run}"]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "ACCELERATE_MIXED_PRECISION": "no"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((dataset / "manifest.json").read_text())["splits"]
    steps = 2 * (sum(s["num_samples"] for s in manifest["train"]) // 8)  # the same global batch as one process
    assert [step for step, _ in _losses(run)] == list(range(1, steps + 1))
    results = json.loads((run / "results.json").read_text())["self-trained student (last step)"]
    assert results["num_samples"] == sum(s["num_samples"] for s in manifest["test"])
