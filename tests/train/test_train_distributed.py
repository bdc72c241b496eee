"""Two CPU processes (gloo) through `accelerate launch`: the same global batch gives the same first-step loss and
learning rate as one process, every process makes the same number of steps, and evaluation counts each sample once.

The comparison uses the terms whose value does not depend on how the global batch is split: cross-entropy normalised
by the batch (``classification_normalization=batch``), fairness and alignment gathered across processes; the point
masking is off because its masks are drawn per process.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("_train_fixtures", {fixtures!r})
    fx = importlib.util.module_from_spec(spec)
    sys.modules["_train_fixtures"] = fx
    spec.loader.exec_module(fx)
    from crossmost_train.commands.selftrain import run_selftrain
    from crossmost_train.config import load_config
    cfg = load_config(["tiny"], sys.argv[1:])
    run_selftrain(cfg, fx.fake_components(train_size=32, eval_size=13))
    """
)

OVERRIDES = [
    "schedule.epochs=1",
    "optim.global_batch_size=8",
    "objective.classification_normalization=batch",
    "objective.mpm_weight=0",
    "objective.global_local_point_weight=0",
    "objective.threshold=0.3",
    "eval.evaluate_teacher=false",
]


def _launch(tmp_path: Path, processes: int, run: Path, *extra: str) -> None:
    script = tmp_path / "run_fake.py"
    script.write_text(SCRIPT.format(fixtures=str(Path(__file__).parent / "_train_fixtures.py")))
    # torchrun starts the processes (`accelerate launch --cpu` starts one process however many are asked for on a
    # machine without GPUs); ACCELERATE_USE_CPU makes them one gloo group on the CPU.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), str(script),
           f"run.output_dir={run}", *OVERRIDES, *extra]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "ACCELERATE_MIXED_PRECISION": "no"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _launch(tmp_path, 1, one)
    _launch(tmp_path, 2, two)
    train1 = [r for r in _records(one) if r["kind"] == "train"]
    train2 = [r for r in _records(two) if r["kind"] == "train"]
    assert [r["step"] for r in train1] == [r["step"] for r in train2] == [1, 2, 3, 4]
    assert train2[0]["loss"] == pytest.approx(train1[0]["loss"], abs=1e-5)
    for name in ("cls_image", "fairness_image", "fairness_point", "alignment"):
        assert train2[0][name] == pytest.approx(train1[0][name], abs=1e-5), name
    assert [r["lr"] for r in train2] == pytest.approx([r["lr"] for r in train1], rel=1e-12)
    zero1 = json.loads((one / "zero_shot.json").read_text())
    zero2 = json.loads((two / "zero_shot.json").read_text())
    assert zero1["num_samples"] == zero2["num_samples"] == 13
    assert zero2["confusion/point"] == zero1["confusion/point"]
    final2 = json.loads((two / "results.json").read_text())["self-trained student (last step)"]
    assert sum(map(sum, final2["confusion/joint"])) == 13
    w1 = torch.load(one / "model" / "weights.pt", weights_only=True)
    w2 = torch.load(two / "model" / "weights.pt", weights_only=True)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], atol=2e-4, rtol=1e-3, msg=k)


def test_two_processes_resume_bit_exact_from_a_safe_checkpoint(tmp_path: Path) -> None:
    full, split = tmp_path / "full", tmp_path / "split"
    _launch(tmp_path, 2, full)
    _launch(tmp_path, 2, split, "run.stop_after_steps=2", "run.keep_last=1")
    (checkpoint,) = (split / "checkpoints").iterdir()
    assert sorted(p.name for p in checkpoint.glob("rng-*")) == ["rng-0.safetensors", "rng-1.safetensors"]
    assert not [p for p in checkpoint.iterdir() if p.suffix in (".bin", ".pkl", ".pt")]
    _launch(tmp_path, 2, split)
    for name in ("model", "teacher"):
        a = torch.load(full / name / "weights.pt", weights_only=True)
        b = torch.load(split / name / "weights.pt", weights_only=True)
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
