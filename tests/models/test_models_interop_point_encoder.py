"""Checkpoint conversion: Point-BERT, dVAE, ULIP and Cross-MoST layouts written to disk and loaded back strictly."""

from __future__ import annotations

import argparse
import pathlib
from pathlib import Path

import pytest
import torch

from crossmost_models import CheckpointMismatchError
from crossmost_models.interop import (
    convert_pointbert_state_dict,
    extract_point_heads,
    load_checkpoint_file,
    load_point_encoder_weights,
)
from crossmost_models.point import PointBertConfig, PointBertEncoder

TINY = {"trans_dim": 32, "depth": 2, "num_heads": 4, "encoder_dims": 48, "num_group": 8, "group_size": 8}


def _encoder(seed: int, **overrides: object) -> PointBertEncoder:
    torch.manual_seed(seed)
    return PointBertEncoder(PointBertConfig.from_dict({**TINY, **overrides})).eval()


def _trained_weights(**overrides: object) -> dict[str, torch.Tensor]:
    """Weights of a 'trained' tower, with non-default BatchNorm statistics so their transfer is visible."""
    state = _encoder(1, **overrides).state_dict()
    for key in state:
        if key.endswith(("running_mean", "running_var")):
            state[key] = torch.rand_like(state[key]) + 0.5
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1234)
    return state


def _point_bert_pretraining(state: dict[str, torch.Tensor]) -> dict[str, object]:
    weights = {f"module.transformer_q.{k}": v for k, v in state.items()}
    weights |= {f"module.transformer_k.{k}": v.clone() for k, v in state.items()}
    weights["module.transformer_q.lm_head.weight"] = torch.randn(8192, 32)
    weights["module.transformer_q.lm_head.bias"] = torch.randn(8192)
    weights["module.transformer_q.cls_head.0.weight"] = torch.randn(256, 32)
    weights["module.dvae.codebook"] = torch.randn(8192, 8)
    weights["module.queue"] = torch.randn(16, 64)
    return {"base_model": weights, "optimizer": {"state": {}, "param_groups": []}, "epoch": 300, "metrics": {}}


def _point_bert_finetuned(state: dict[str, torch.Tensor]) -> dict[str, object]:
    weights = {f"module.{k}": v for k, v in state.items() if k != "mask_token"}
    weights["module.cls_head_finetune.0.weight"] = torch.randn(256, 64)
    weights["module.cls_head_finetune.3.weight"] = torch.randn(40, 256)
    return {"base_model": weights, "epoch": 10}


def _ulip(state: dict[str, torch.Tensor]) -> dict[str, object]:
    weights = {f"module.point_encoder.{k}": v for k, v in state.items() if k != "mask_token"}
    weights["module.pc_projection"] = torch.randn(64, 16)
    weights["module.visual.conv1.weight"] = torch.randn(8, 3, 4, 4)
    weights["module.logit_scale"] = torch.tensor(4.6)
    return {"epoch": 250, "state_dict": weights, "best_acc1": 60.4, "args": argparse.Namespace(model="ULIP_PointBERT")}


def _official(state: dict[str, torch.Tensor]) -> dict[str, object]:
    weights = {f"module.point_encoder.{k}": v for k, v in state.items()}
    weights["module.point_encoder.proj"] = torch.randn(32, 16)
    weights["module.point_encoder.lm_head.weight"] = torch.randn(32, 32)
    weights["module.point_encoder.lm_head.bias"] = torch.randn(32)
    weights["module.pc_projection"] = torch.randn(64, 16)
    weights["module.classifier"] = torch.randn(16, 40)
    weights["module.image_projection"] = torch.randn(24, 16)
    return {"model": weights, "epoch": 199, "args": argparse.Namespace(dataset="modelnet40")}


LAYOUTS = {"pointbert": _point_bert_pretraining, "ulip": _ulip, "official": _official}


@pytest.mark.parametrize("source", ["pointbert", "ulip", "official"])
def test_checkpoint_round_trips_strictly_through_a_file(tmp_path: Path, source: str) -> None:
    weights = _trained_weights()
    path = tmp_path / f"{source}.pt"
    torch.save(LAYOUTS[source](weights), path)

    target = _encoder(2)
    report = load_point_encoder_weights(target, load_checkpoint_file(path), source=source)  # type: ignore[arg-type]

    assert report.ok, str(report)
    expected_allowed = ("mask_token",) if source == "ulip" else ()
    assert report.allowed_missing == expected_allowed
    loaded = target.state_dict()
    for key, value in weights.items():
        if key not in expected_allowed:
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    points = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(0))
    reference = _encoder(3)
    reference.load_state_dict(weights)
    if source == "ulip":
        reference.mask_token.data.copy_(target.mask_token.data)
    torch.testing.assert_close(target(points).global_feature, reference(points).global_feature)


def test_point_bert_finetuned_and_dvae_checkpoints() -> None:
    weights = _trained_weights()
    finetuned = load_point_encoder_weights(_encoder(2), _point_bert_finetuned(weights), source="pointbert")
    assert finetuned.ok
    assert finetuned.allowed_missing == ("mask_token",)

    dvae = {
        "base_model": {f"module.{k}": v for k, v in weights.items() if k.startswith("encoder.")}
        | {"module.dgcnn_1.input_trans.weight": torch.randn(128, 48, 1), "module.codebook": torch.randn(64, 48)}
    }
    target = _encoder(2)
    before = target.reduce_dim.weight.detach().clone()
    report = load_point_encoder_weights(target, dvae, source="pointbert-dvae")
    assert report.ok
    assert all(key.startswith("encoder.") for key in report.loaded)
    assert "reduce_dim.weight" in report.allowed_missing
    torch.testing.assert_close(target.encoder.first_conv[0].weight, weights["encoder.first_conv.0.weight"])
    torch.testing.assert_close(target.reduce_dim.weight, before)


def test_heads_are_returned_separately_not_loaded() -> None:
    weights = _trained_weights()
    official = _official(weights)
    heads = extract_point_heads(official, source="official")
    assert sorted(heads) == ["lm_head.bias", "lm_head.weight", "pc_projection", "proj"]
    assert heads["pc_projection"].shape == (64, 16)
    assert "proj" not in convert_pointbert_state_dict(official, source="official")
    assert sorted(extract_point_heads(_ulip(weights), source="ulip")) == ["pc_projection"]
    assert extract_point_heads(_point_bert_pretraining(weights), source="pointbert") == {}


def test_mismatches_raise_with_a_readable_diff_and_load_nothing() -> None:
    weights = _trained_weights(in_channels=6)
    del weights["norm.weight"]
    weights["blocks.blocks.2.attn.qkv.weight"] = torch.randn(96, 32)
    checkpoint = _official(weights)
    target = _encoder(2)
    before = {k: v.clone() for k, v in target.state_dict().items()}

    with pytest.raises(CheckpointMismatchError) as caught:
        load_point_encoder_weights(target, checkpoint, source="official")

    message = str(caught.value)
    assert "missing from the weights (1):\n    - norm.weight" in message
    assert "unexpected in the weights (1):\n    + blocks.blocks.2.attn.qkv.weight" in message
    assert "! encoder.first_conv.0.weight: model [128, 3, 1] vs weights [128, 6, 1]" in message
    assert "strict=False" in message
    assert caught.value.report.missing == ("norm.weight",)
    for key, value in target.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)

    report = load_point_encoder_weights(target, checkpoint, source="official", strict=False)
    assert not report.ok
    assert "encoder.first_conv.0.weight" not in report.loaded
    assert "reduce_dim.weight" in report.loaded
    torch.testing.assert_close(target.reduce_dim.weight, weights["reduce_dim.weight"])
    torch.testing.assert_close(target.norm.weight, before["norm.weight"])


def test_wrong_source_and_unreadable_files_are_explained(tmp_path: Path) -> None:
    weights = _trained_weights()
    with pytest.raises(ValueError, match=r"no Point-BERT tokenizer keys .* for source 'ulip'"):
        convert_pointbert_state_dict(_point_bert_finetuned(weights), source="ulip")
    with pytest.raises(ValueError, match="source must be one of"):
        convert_pointbert_state_dict(weights, source="pointnet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="found no state dict"):
        convert_pointbert_state_dict({"epoch": 3, "args": "x"}, source="crossmost")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint_file(tmp_path / "missing.pt")
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"state_dict": weights, "where": pathlib.PurePosixPath("/data")}, unsafe)
    with pytest.raises(ValueError, match="will not unpickle"):
        load_checkpoint_file(unsafe)


def test_safetensors_files_load(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    weights = _trained_weights()
    path = tmp_path / "point.safetensors"
    safetensors.save_file({f"point_encoder.{k}": v.contiguous() for k, v in weights.items()}, str(path))
    target = _encoder(2)
    assert load_point_encoder_weights(target, load_checkpoint_file(path), source="crossmost").ok
    torch.testing.assert_close(target.cls_pos, weights["cls_pos"])


def test_paper_tower_has_exactly_the_ulip_point_bert_keys() -> None:
    """The full-size encoder's names and shapes are those of ULIP's PointTransformer plus Point-BERT's mask token."""
    conv = {"first_conv": [(128, 3, 1), (128,), (256, 128, 1)], "second_conv": [(512, 512, 1), (512,), (256, 512, 1)]}
    expected: dict[str, tuple[int, ...]] = {"cls_token": (1, 1, 384), "cls_pos": (1, 1, 384), "mask_token": (1, 1, 384)}
    for name, (conv0, bn, conv3) in conv.items():
        expected |= {f"encoder.{name}.0.weight": conv0, f"encoder.{name}.0.bias": (conv0[0],)}
        for stat in ("weight", "bias", "running_mean", "running_var"):
            expected[f"encoder.{name}.1.{stat}"] = bn
        expected[f"encoder.{name}.1.num_batches_tracked"] = ()
        expected |= {f"encoder.{name}.3.weight": conv3, f"encoder.{name}.3.bias": (conv3[0],)}
    expected |= {"reduce_dim.weight": (384, 256), "reduce_dim.bias": (384,)}
    expected |= {"pos_embed.0.weight": (128, 3), "pos_embed.0.bias": (128,)}
    expected |= {"pos_embed.2.weight": (384, 128), "pos_embed.2.bias": (384,)}
    for n in range(12):
        block = f"blocks.blocks.{n}"
        expected |= {f"{block}.norm1.weight": (384,), f"{block}.norm1.bias": (384,)}
        expected |= {f"{block}.attn.qkv.weight": (1152, 384)}
        expected |= {f"{block}.attn.proj.weight": (384, 384), f"{block}.attn.proj.bias": (384,)}
        expected |= {f"{block}.norm2.weight": (384,), f"{block}.norm2.bias": (384,)}
        expected |= {f"{block}.mlp.fc1.weight": (1536, 384), f"{block}.mlp.fc1.bias": (1536,)}
        expected |= {f"{block}.mlp.fc2.weight": (384, 1536), f"{block}.mlp.fc2.bias": (384,)}
    expected |= {"norm.weight": (384,), "norm.bias": (384,)}
    with torch.device("meta"):
        model = PointBertEncoder()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
