"""examples/classify_point_cloud_and_image.py: run main() and check the probabilities it prints and returns."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
import torch

# Load triton (through torch._dynamo) while this module is collected, before any test of the session creates an
# OpenGL context: Mesa's llvmpipe and triton each carry an LLVM, and importing triton after a llvmpipe context exists
# in the same process crashes it (the models built here import it through open_clip and torchvision).
import torch._dynamo
from PIL import Image


@pytest.fixture(scope="module")
def example(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("classify_point_cloud_and_image")


def test_main_prints_and_returns_distributions(example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    classes = ["sphere", "cube", "cone"]
    result = example.main(["--classes", *classes, "--points", "256"])
    printed = capsys.readouterr().out
    assert list(result) == ["point", "image", "joint"]
    for branch, probabilities in result.items():
        assert list(probabilities) == classes
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 <= p <= 1.0 for p in probabilities.values())
        winner = max(probabilities, key=probabilities.__getitem__)
        line = next(line for line in printed.splitlines() if line.startswith(branch))
        assert line.endswith(f"-> {winner}")
    for name in classes:
        joint = (result["point"][name] + result["image"][name]) / 2
        assert result["joint"][name] == pytest.approx(joint, abs=1e-6)
    assert "untrained: pretrained=None" in printed
    assert "256 points" in printed


def test_main_is_deterministic_for_a_seed(example: ModuleType) -> None:
    first = example.main(["--classes", "a", "b", "--points", "128", "--seed", "3"])
    second = example.main(["--classes", "a", "b", "--points", "128", "--seed", "3"])
    assert first == second


def test_main_refuses_a_single_class(example: ModuleType) -> None:
    with pytest.raises(SystemExit):
        example.main(["--classes", "only"])


def test_the_model_sees_a_centred_unit_sphere_cloud(example: ModuleType) -> None:
    _, _, point_transform = example.build_model("tiny", ["a", "b"], None, None)
    rng = np.random.default_rng(0)
    points = point_transform(3.0 * example.sphere_points(500, rng) + np.array([5.0, -2.0, 1.0])).numpy()
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=0.05)
    assert np.linalg.norm(points, axis=1).max() == pytest.approx(1.0)
    assert point_transform.up_axis == "z"


def test_image_transform_is_clip_normalised(example: ModuleType) -> None:
    model, image_transform, _ = example.build_model("tiny", ["a", "b"], None, None)
    tensor = image_transform(Image.new("RGB", (90, 70), (255, 255, 255)))
    assert tuple(tensor.shape) == (3, *model.image_size)
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    expected = [(1.0 - m) / s for m, s in zip(mean, std, strict=True)]
    torch.testing.assert_close(tensor[:, 0, 0], torch.tensor(expected), rtol=1e-5, atol=1e-5)
