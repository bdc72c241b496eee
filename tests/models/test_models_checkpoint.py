"""save_pretrained / from_pretrained round trips, atomic writes, class-count and key disagreements."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import crossmost_models
from crossmost_models import CrossModalModel, create_model, from_pretrained, load_model_weights, save_pretrained

CLASSES = ["night_stand", "flower_pot", "chair"]


@pytest.fixture(scope="module")
def model() -> CrossModalModel:
    torch.manual_seed(0)
    m = create_model("tiny", classnames=CLASSES, templates="paper")
    with torch.no_grad():  # make every weight distinguishable from a fresh init
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return m


def test_round_trip_preserves_weights_and_outputs(model: CrossModalModel, tmp_path: Path) -> None:
    folder = save_pretrained(model, tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["classnames"] == CLASSES
    assert config["num_classes"] == 3
    assert config["templates"] == "paper"
    assert config["crossmost_models_version"] == crossmost_models.__version__
    assert config["model_config"]["clip_config"]["vision_cfg"]["image_size"] == 64
    loaded = from_pretrained(folder)
    original = model.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, original[key]), key
    assert loaded.classnames == CLASSES
    model.eval()
    loaded.eval()
    images, points = torch.randn(2, 3, 64, 64), torch.randn(2, 512, 3)
    with torch.no_grad():
        a, b = model(images, points), loaded(images, points)
    assert a.image_logits is not None
    assert b.image_logits is not None
    torch.testing.assert_close(a.image_logits, b.image_logits)
    torch.testing.assert_close(a.point_logits, b.point_logits)
    again = create_model("tiny", pretrained=folder)
    assert torch.equal(again.classifier.weight, model.classifier.weight)
    assert from_pretrained(str(folder)).num_classes == 3


def test_overwrite_is_atomic_and_leaves_no_temporaries(model: CrossModalModel, tmp_path: Path) -> None:
    save_pretrained(model, tmp_path / "saved")
    (tmp_path / "saved" / "stale.txt").write_text("old")
    model.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]
    assert not (tmp_path / "saved" / "stale.txt").exists()


def test_class_count_disagreement_is_explained(model: CrossModalModel, tmp_path: Path) -> None:
    folder = save_pretrained(model, tmp_path / "saved")
    with pytest.raises(ValueError, match=r"3 classes but 4 class names") as info:
        create_model("tiny", pretrained=folder, classnames=[*CLASSES, "lamp"])
    assert "model.safetensors" in str(info.value)
    with pytest.raises(ValueError, match="differ from those saved"):
        create_model("tiny", pretrained=folder, classnames=["a", "b", "c"])
    other = create_model("tiny", classnames=["a", "b"], templates="photo")
    with pytest.raises(ValueError, match=r"model.safetensors has a classifier with 3 classes but .* has 2 classes"):
        load_model_weights(other, folder)
    with pytest.raises(ValueError, match="not the architecture"):
        create_model("tiny", pretrained=folder, point={"num_group": 8})


def test_key_and_shape_mismatches_are_listed(model: CrossModalModel, tmp_path: Path) -> None:
    folder = save_pretrained(model, tmp_path / "saved")
    state = load_file(str(folder / "model.safetensors"))
    state["extra.weight"] = torch.zeros(1)
    del state["mpm_head.bias"]
    state["point_projection.weight"] = torch.zeros(3, 3)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="weights do not fit") as info:
        from_pretrained(folder)
    message = str(info.value)
    assert "- mpm_head.bias" in message
    assert "+ extra.weight" in message
    assert "! point_projection.weight: model [32, 128] vs weights [3, 3]" in message


def test_missing_or_foreign_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json is missing"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a crossmost model config"):
        from_pretrained(tmp_path)


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_saved_model_gets_the_permissions_of_a_plain_open(
    model: CrossModalModel, tmp_path: Path, umask: int, file_mode: int, dir_mode: int
) -> None:
    old = os.umask(umask)
    try:
        folder = save_pretrained(model, tmp_path / "saved")
        save_pretrained(model, folder)  # replacing an existing folder too
    finally:
        os.umask(old)
    assert (folder.stat().st_mode & 0o777) == dir_mode
    for name in ("config.json", "model.safetensors"):
        assert ((folder / name).stat().st_mode & 0o777) == file_mode, name
    assert [p.name for p in tmp_path.iterdir()] == ["saved"]
