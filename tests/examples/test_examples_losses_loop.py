"""examples/losses_in_your_training_loop.py: a few steps run, every term is finite, the EMA is exact."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

# Load triton (through torch._dynamo) while this module is collected, before any test of the session creates an
# OpenGL context: Mesa's llvmpipe and triton each carry an LLVM, and importing triton after a llvmpipe context exists
# in the same process crashes it (the models built here import it through open_clip and torchvision).
import torch._dynamo
from torch import nn

from crossmost_losses import TERM_NAMES, ObjectiveConfig


@pytest.fixture(scope="module")
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("losses_in_your_training_loop")


def test_main_runs_steps_with_finite_terms(example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    history = example.main(["--steps", "2", "--batch-size", "3", "--points", "128"])
    printed = capsys.readouterr().out
    assert len(history) == 2
    weights = ObjectiveConfig().term_weights()
    for record in history:
        # The student has both masks, so every term of the objective is computed.
        assert [name for name in TERM_NAMES if name in record] == list(TERM_NAMES)
        assert all(math.isfinite(record[name]) for name in (*TERM_NAMES, "total"))
        weighted = sum(weights[name] * record[name] for name in TERM_NAMES)
        assert record["total"] == pytest.approx(weighted, rel=1e-5)
        assert 0.0 <= record["image_kept_ratio"] <= 1.0
        assert record["fairness_image"] >= math.log(4) - 1e-5  # fairness is at least log C, C = 4
    assert printed.count("step ") == 2


def test_threshold_above_one_keeps_nothing(example: ModuleType) -> None:
    (record,) = example.main(["--steps", "1", "--batch-size", "2", "--points", "128", "--threshold", "1.0"])
    assert record["image_kept_ratio"] == 0.0
    assert record["cls_image"] == 0.0
    assert record["cls_point"] == 0.0


def test_ema_update_known_answer(example: ModuleType) -> None:
    teacher, student = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    nn.init.zeros_(teacher.weight)
    nn.init.ones_(student.weight)
    student.num_batches_tracked.fill_(7)
    example.ema_update(teacher, student, momentum=0.9)
    torch.testing.assert_close(teacher.weight.detach(), torch.full((2,), 0.1))
    assert int(teacher.num_batches_tracked) == 7  # integer buffers are copied, not averaged


def test_runs_with_crossmost_losses_alone() -> None:
    # The script imports nothing of crossmost but crossmost_losses.
    script = Path(__file__).resolve().parents[2] / "examples" / "losses_in_your_training_loop.py"
    code = (
        "import runpy, sys\n"
        "sys.argv = ['x', '--steps', '1', '--batch-size', '2', '--points', '64']\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules if m.startswith('crossmost')})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "step 0: total" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "crossmost_losses"
