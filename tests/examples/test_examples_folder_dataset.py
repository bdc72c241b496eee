"""examples/custom_folder_dataset.py: meshes in class folders → shards → self-training → evaluation → prediction."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

# Load triton (through torch._dynamo) while this module is collected, before any test of the session creates an
# OpenGL context: Mesa's llvmpipe and triton each carry an LLVM, and importing triton after a llvmpipe context exists
# in the same process crashes it (the models built here import it through open_clip and torchvision).
import torch._dynamo  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_folder_dataset.py"
CLASSES = ["ball", "box", "cone", "cylinder"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("custom_folder_dataset")


def test_folder_layout_written(example: ModuleType, tmp_path: Path) -> None:
    files = example.write_folder_dataset(tmp_path, objects_per_class=2, seed=0)
    assert sorted(path.relative_to(tmp_path).as_posix() for path in files) == sorted(
        f"{name}/{name}_{index:02d}.obj" for name in CLASSES for index in range(2)
    )


def test_end_to_end_with_depth_views(example: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = example.main(
        ["--work-dir", str(tmp_path), "--objects-per-class", "4", "--steps", "2", "--views", "2", "--depth-views"]
    )
    printed = capsys.readouterr().out
    manifest = result["manifest"]
    assert manifest["class_names"] == CLASSES  # the class folders, sorted
    assert manifest["num_views"] == 2
    assert manifest["points_per_sample"] == 512
    assert manifest["image_size"] == 64
    assert manifest["config"]["reader"]["options"] == {"up_axis": "z", "test_fraction": 0.3, "view_source": "depth"}
    counts = manifest["class_counts"]
    assert sum(sum(per_class.values()) for per_class in counts.values()) == 16
    assert manifest["skipped"] == []
    run = result["run"]
    for name in ("config.yaml", "metrics.jsonl", "report.md", "model/config.json", "teacher/config.json"):
        assert (run / name).is_file(), name
    student = result["results"]["self-trained student (last step)"]
    assert student["num_samples"] == sum(counts["test"].values())
    assert all(0.0 <= student[branch] <= 100.0 for branch in ("image", "image*", "point", "joint"))
    (row,) = result["predictions"]
    assert row["kind"] == "mesh"
    for branch in ("image", "image*", "point", "joint"):
        assert sum(row[branch]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row[branch]["class"] in CLASSES
    assert "$ crossmost-data render folder" in printed
    assert "OK: every shard matches the manifest" in printed


def test_end_to_end_with_rendered_views(example: ModuleType, tmp_path: Path) -> None:
    # The self-test runs in a child process, so no OpenGL context is ever created in the test process.
    selftest = subprocess.run(
        [sys.executable, "-m", "crossmost_data", "render", "--selftest"], capture_output=True, text=True, check=False
    )
    if selftest.returncode != 0:
        pytest.skip(f"headless rendering is not available here: {selftest.stdout[-300:]}{selftest.stderr[-300:]}")
    result = example.main(["--work-dir", str(tmp_path), "--objects-per-class", "3", "--steps", "1"])
    manifest = result["manifest"]
    assert manifest["config"]["reader"]["view_source"] == "render"
    assert manifest["num_views"] == 3
    assert manifest["skipped"] == []
    (row,) = result["predictions"]
    assert "views: rendered" in row["notes"]
    assert sum(row["joint"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
