"""Registry, create_model overrides, create_clip with local files and the QuickGELU guard, import cost."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossmost_models import (
    CrossModalConfig,
    PointBertConfig,
    add_model_config,
    build_model,
    create_model,
    create_model_from_clip,
    get_model_config,
    list_models,
    load_point_branch,
)
from crossmost_models.clip import create_clip, resolved_clip_config


def test_registry_lists_shipped_configs() -> None:
    assert {"tiny", "vit-b16-pointbert"} <= set(list_models())
    paper = get_model_config("vit-b16-pointbert")
    assert paper["clip"] == "ViT-B-16-quickgelu"
    assert paper["num_points"] == 8192
    point = PointBertConfig.from_dict(paper["point"])
    assert (point.trans_dim, point.depth, point.num_heads, point.encoder_dims) == (384, 12, 6, 256)
    assert (point.num_group, point.group_size, point.mask_ratio) == (64, 32, (0.3, 0.4))
    paper["clip"] = "changed"
    assert get_model_config("vit-b16-pointbert")["clip"] == "ViT-B-16-quickgelu"  # a copy
    with pytest.raises(KeyError, match="tiny"):
        get_model_config("no-such-model")


def test_add_model_config_from_dict_and_file(tmp_path: Path) -> None:
    config = get_model_config("tiny")
    config["point"]["num_group"] = 8
    assert add_model_config(config, name="tiny-8") == ["tiny-8"]
    path = tmp_path / "tiny-4.json"
    config["point"]["num_group"] = 4
    path.write_text(json.dumps(config))
    assert add_model_config(path) == ["tiny-4"]
    assert get_model_config("tiny-4")["point"]["num_group"] == 4
    with pytest.raises(ValueError, match="unknown key"):
        add_model_config({**config, "bogus": 1}, name="bad")
    with pytest.raises(ValueError, match="name="):
        add_model_config(config)


def test_create_model_overrides_and_required_classnames() -> None:
    model = create_model(
        "tiny", classnames=["a", "b"], templates="photo", point={"num_group": 8}, classifier={"normalize_columns": True}
    )
    assert model.num_groups == 8
    assert model.point_encoder.config.group_size == 16
    assert model.classifier.normalize_columns
    with pytest.raises(ValueError, match="classnames"):
        create_model("tiny")
    with pytest.raises(ValueError, match="unknown override"):
        create_model("tiny", classnames=["a"], nonsense=1)
    with pytest.raises(ValueError, match="PointBertConfig"):
        create_model("tiny", classnames=["a"], point={"heads": 3})


def _save_tiny_clip(path: Path) -> torch.nn.Module:
    torch.manual_seed(5)
    clip, _ = create_clip("crossmost-tiny-clip")
    torch.save(clip.state_dict(), path)
    return clip


def test_local_clip_file_is_loaded(tmp_path: Path) -> None:
    source = _save_tiny_clip(tmp_path / "tiny-clip.pt")
    loaded, _ = create_clip("crossmost-tiny-clip", pretrained=str(tmp_path / "tiny-clip.pt"))
    for (name, a), (_, b) in zip(source.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    model = create_model("tiny", pretrained=tmp_path / "tiny-clip.pt", classnames=["a", "b"], templates="photo")
    for name, value in source.visual.state_dict().items():
        assert torch.equal(model.image_tower.visual.state_dict()[name], value), name


def test_quickgelu_guard_for_openai_looking_files(tmp_path: Path) -> None:
    path = tmp_path / "openai-tiny.pt"
    _save_tiny_clip(path)
    with pytest.raises(ValueError, match="-quickgelu"):
        create_clip("crossmost-tiny-clip", pretrained=str(path))
    with pytest.raises(ValueError, match="QuickGELU"):
        create_model("tiny", pretrained=path, classnames=["a"])
    with pytest.warns(UserWarning, match="QuickGELU"):
        create_clip("crossmost-tiny-clip", pretrained=str(path), allow_quickgelu_mismatch=True)
    clip, _ = create_clip("crossmost-tiny-clip", pretrained=str(path), force_quick_gelu=True)
    assert type(clip.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    model = create_model("tiny", pretrained=path, classnames=["a"], clip_kwargs={"force_quick_gelu": True})
    assert model.config.clip_config is not None
    assert model.config.clip_config["quick_gelu"] is True


def test_model_from_clip_with_point_weights() -> None:
    clip, tokenizer = create_clip("crossmost-tiny-clip")
    donor = create_model("tiny", classnames=["a", "b"], templates="photo")
    point_state = {k: v for k, v in donor.state_dict().items() if k.startswith(("point_", "mpm_head"))}
    config = CrossModalConfig.from_dict(get_model_config("tiny"))
    model = create_model_from_clip(clip, tokenizer, config, ["a", "b"], templates="photo")
    load_point_branch(model, point_state, source="crossmost")
    assert model.image_tower.visual is clip.visual  # shared, not copied
    assert model.config.templates == "photo"
    assert model.templates == "photo"
    assert model.config.clip_config is not None
    assert config.clip_config is None  # the given config is not changed
    for key, value in point_state.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_import_is_cheap() -> None:
    code = "import sys, crossmost_models; print('open_clip' in sys.modules, 'timm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_build_model_from_a_typed_config() -> None:
    config = CrossModalConfig.from_dict(get_model_config("tiny"))
    assert isinstance(config.point, PointBertConfig)
    assert CrossModalConfig.from_dict(config.to_dict()) == config  # the JSON form parses back to an equal config
    assert config.to_dict()["point"]["mask_ratio"] == [0.3, 0.4]
    with pytest.raises(ValueError, match="needs visual"):
        build_model(config, ["a", "b"], torch.zeros(32, 2))
    resolved = dataclasses.replace(config, clip_config=resolved_clip_config(config.clip))
    torch.manual_seed(0)
    model = build_model(resolved, ["a", "b"], torch.ones(32, 2), templates="photo")
    assert model.classnames == ["a", "b"]
    assert model.templates == "photo"
    assert model.point_encoder.config is resolved.point
    assert torch.equal(model.classifier.weight, torch.ones(32, 2))
    assert model.num_groups == resolved.point.num_group
