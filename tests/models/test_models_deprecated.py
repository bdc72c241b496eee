"""Former import paths and names keep working for one release, each with a DeprecationWarning naming the new home."""

from __future__ import annotations

import importlib

import pytest
import torch

import crossmost_models as cm
from crossmost_models import interop, saved_model
from crossmost_models.interop import point_encoder

MOVED = [
    ("crossmost_models.convert", "read_checkpoint", interop.read_checkpoint),
    ("crossmost_models.convert", "detect_source", interop.detect_source),
    ("crossmost_models.convert", "load_point_branch", interop.load_point_branch),
    ("crossmost_models.convert", "load_point_tokenizer", interop.load_point_tokenizer),
    ("crossmost_models.convert", "load_crossmost_official", interop.load_crossmost_official),
    ("crossmost_models.convert", "convert_crossmost_official", interop.convert_crossmost_official),
    ("crossmost_models.convert", "convert_point_branch", interop.convert_point_branch),
    ("crossmost_models.convert", "POINT_SOURCES", interop.POINT_SOURCES),
    ("crossmost_models.convert", "LoadReport", cm.LoadReport),
    ("crossmost_models.checkpoint", "from_pretrained", cm.from_pretrained),
    ("crossmost_models.checkpoint", "save_pretrained", cm.save_pretrained),
    ("crossmost_models.checkpoint", "load_model_weights", cm.load_model_weights),
    ("crossmost_models.checkpoint", "save_safetensors", saved_model.save_safetensors),
    ("crossmost_models.checkpoint", "resolve_saved_model", saved_model.resolve_saved_model),
    ("crossmost_models.checkpoint", "CONFIG_FILE", "config.json"),
    ("crossmost_models.checkpoint", "WEIGHTS_FILE", "model.safetensors"),
    ("crossmost_models.checkpoint_files", "load_checkpoint_file", interop.load_checkpoint_file),
    ("crossmost_models.checkpoint_files", "unwrap_state_dict", interop.unwrap_state_dict),
    ("crossmost_models.point.convert", "load_point_encoder_weights", point_encoder.load_point_encoder_weights),
    ("crossmost_models.point.convert", "convert_pointbert_state_dict", point_encoder.convert_pointbert_state_dict),
    ("crossmost_models.point.convert", "map_point_encoder_keys", point_encoder.map_point_encoder_keys),
    ("crossmost_models.point.convert", "CheckpointMismatchError", cm.CheckpointMismatchError),
    ("crossmost_models.point", "load_point_encoder_weights", point_encoder.load_point_encoder_weights),
    ("crossmost_models.point", "extract_point_heads", point_encoder.extract_point_heads),
    ("crossmost_models.point", "load_checkpoint_file", interop.load_checkpoint_file),
    ("crossmost_models.point", "LoadReport", cm.LoadReport),
]


@pytest.mark.parametrize(("module", "name", "expected"), MOVED)
def test_moved_names_warn_and_are_the_new_objects(module: str, name: str, expected: object) -> None:
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} is deprecated .* import it from crossmost_models"):
        value = getattr(old, name)
    assert value is expected or value == expected


def test_unknown_names_are_still_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        importlib.import_module("crossmost_models.convert").nothing  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        importlib.import_module("crossmost_models.point").nothing  # noqa: B018


def test_former_name_of_the_official_layout_warns_and_loads() -> None:
    torch.manual_seed(3)
    donor = cm.create_model("tiny", classnames=["a", "b"], templates="photo")
    official = {k: v for k, v in donor.state_dict().items() if k.startswith("point_encoder.")}
    official["pc_projection"] = donor.point_projection.weight.T.clone()
    official["point_encoder.proj"] = donor.point_local_projection.weight.T.clone()
    official["point_encoder.lm_head.weight"] = donor.mpm_head.weight.clone()
    official["point_encoder.lm_head.bias"] = donor.mpm_head.bias.clone()
    target = cm.create_model("tiny", classnames=["a", "b"], templates="photo")
    with pytest.warns(DeprecationWarning, match="'crossmost-official' is deprecated; use 'official'"):
        report = cm.load_point_branch(target, official, source="crossmost-official")
    assert report.ok
    assert report.source == "official point branch"
    for key, value in donor.state_dict().items():
        if key.startswith(("point_", "mpm_head")):
            assert torch.equal(target.state_dict()[key], value), key
