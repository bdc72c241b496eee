"""Conversion of the authors' Cross-MoST checkpoints and of ULIP / Point-BERT point-encoder checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from crossmost_models import CrossModalModel, create_model
from crossmost_models.interop import detect_source, load_crossmost_official, load_point_branch, read_checkpoint

CLASSES = ["bench", "chair", "lamp"]


@pytest.fixture(scope="module")
def donor() -> CrossModalModel:
    torch.manual_seed(7)
    return create_model("tiny", classnames=CLASSES, templates="photo", clip_kwargs={"force_quick_gelu": True})


def _official_state(model: CrossModalModel) -> dict[str, torch.Tensor]:
    """The donor's weights under the key names and layouts of theamaya/CrossMoST checkpoints."""
    state: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if key == "image_tower.visual.proj":
            state["image_projection"] = value.clone()  # W×D
        elif key == "image_tower.mask_token":
            state["visual.mask_token_embedding"] = value.reshape(1, 1, -1).clone()
        elif key.startswith("image_tower.visual."):
            state[key.removeprefix("image_tower.")] = value.clone()
        elif key.startswith("image_tower."):
            state["visual." + key.removeprefix("image_tower.")] = value.clone()  # ln_patch, decoder.0
        elif key == "point_projection.weight":
            state["pc_projection"] = value.T.clone()  # 2W×D
        elif key == "point_local_projection.weight":
            state["point_encoder.proj"] = value.T.clone()  # W×D
        elif key.startswith("mpm_head."):
            state["point_encoder.lm_head." + key.removeprefix("mpm_head.")] = value.clone()
        elif key == "classifier.weight":
            state["classifier"] = value.clone()  # D×C
        elif key == "classifier.logit_scale":
            state["logit_scale"] = value.clone()
        else:
            state[key] = value.clone()
    return state


def _fresh() -> CrossModalModel:
    torch.manual_seed(99)
    return create_model("tiny", classnames=CLASSES, templates="photo", clip_kwargs={"force_quick_gelu": True})


def _assert_same(a: CrossModalModel, b: CrossModalModel, prefix: str = "") -> None:
    sa, sb = a.state_dict(), b.state_dict()
    for key in sa:
        if key.startswith(prefix):
            assert torch.equal(sa[key], sb[key]), key


def test_official_crossmost_checkpoint_round_trip(donor: CrossModalModel, tmp_path: Path) -> None:
    state = {"module." + k: v for k, v in _official_state(donor).items()}
    state["module.token_embedding.weight"] = torch.zeros(10, 4)  # text tower keys some checkpoints keep
    state["module.transformer.resblocks.0.ln_1.weight"] = torch.zeros(4)
    path = tmp_path / "checkpoint-199.pth"
    torch.save({"model": state, "epoch": 199}, path)
    assert detect_source(read_checkpoint(path)) == "official"
    model = _fresh()
    report = load_crossmost_official(model, path)
    assert report.ok
    assert "token_embedding.weight" in report.skipped
    _assert_same(model, donor)
    assert "tensors loaded" in str(report)


def test_official_checkpoint_errors(donor: CrossModalModel, tmp_path: Path) -> None:
    state = _official_state(donor)
    missing = dict(state)
    del missing["visual.ln_patch.weight"]
    missing["visual.decoder.0.bias"] = torch.zeros(5)
    with pytest.raises(ValueError, match=r"- image_tower.ln_patch.weight") as info:
        load_crossmost_official(_fresh(), missing)
    assert "! image_tower.decoder.0.bias: model [192] vs weights [5]" in str(info.value)
    wrong_classes = {**state, "classifier": torch.zeros(32, 5)}
    with pytest.raises(ValueError, match="5 classes but the model was created with 3"):
        load_crossmost_official(_fresh(), wrong_classes)
    gelu = create_model("tiny", classnames=CLASSES, templates="photo")
    with pytest.raises(ValueError, match="QuickGELU"):
        load_crossmost_official(gelu, state)


def _ulip_point_state(model: CrossModalModel) -> dict[str, torch.Tensor]:
    state = {
        "module." + k: v.clone()
        for k, v in model.state_dict().items()
        if k.startswith("point_encoder.") and k != "point_encoder.mask_token"
    }
    state["module.pc_projection"] = model.point_projection.weight.T.clone()
    state["module.visual.conv1.weight"] = torch.zeros(4, 3, 8, 8)  # image tower of the ULIP model: skipped
    state["module.logit_scale"] = torch.tensor(4.6)
    return state


def test_ulip_checkpoint_loads_point_branch(donor: CrossModalModel, tmp_path: Path) -> None:
    path = tmp_path / "ulip-checkpoint_best.pt"
    torch.save({"state_dict": _ulip_point_state(donor), "epoch": 3}, path)
    model = _fresh()
    image_before = model.image_tower.visual.conv1.weight.clone()
    report = load_point_branch(model, read_checkpoint(path))
    assert report.ok
    assert "visual.conv1.weight" in report.skipped
    _assert_same(model, donor, "point_encoder.encoder")
    _assert_same(model, donor, "point_encoder.blocks")
    assert torch.equal(model.point_projection.weight, donor.point_projection.weight)
    assert torch.equal(model.image_tower.visual.conv1.weight, image_before)
    incomplete = read_checkpoint(path)
    del incomplete["point_encoder.norm.weight"]
    with pytest.raises(ValueError, match=r"- point_encoder.norm.weight"):
        load_point_branch(_fresh(), incomplete, source="ulip")


def test_pointbert_checkpoint_loads_encoder(donor: CrossModalModel, tmp_path: Path) -> None:
    base = {
        "transformer_q." + k.removeprefix("point_encoder."): v.clone()
        for k, v in donor.state_dict().items()
        if k.startswith("point_encoder.")
    }
    base["transformer_q.lm_head.weight"] = torch.zeros(3, 3)
    base["transformer_k.cls_token"] = torch.zeros(1, 1, 64)
    path = tmp_path / "Point-BERT.pth"
    torch.save({"base_model": base}, path)
    model = _fresh()
    report = load_point_branch(model, read_checkpoint(path))  # auto-detected as Point-BERT
    assert report.ok
    assert "transformer_k.cls_token" in report.skipped
    _assert_same(model, donor, "point_encoder.")
    created = create_model("tiny", classnames=CLASSES, templates="photo", point_pretrained=path)
    _assert_same(created, donor, "point_encoder.")


def test_unsafe_or_unknown_checkpoints_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "args": Path("x")}, path)
    with pytest.raises(ValueError, match="weights_only"):
        read_checkpoint(path)
    with pytest.raises(ValueError, match="cannot tell the checkpoint format"):
        detect_source({"foo.weight": torch.zeros(1)})
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "nope.pt")


def test_point_branch_uses_the_point_conversion_and_its_report(donor: CrossModalModel, tmp_path: Path) -> None:
    from crossmost_models import CheckpointMismatchError
    from crossmost_models.interop.point_encoder import LoadReport as PointLoadReport
    from crossmost_models.load_report import LoadReport

    assert PointLoadReport is LoadReport
    path = tmp_path / "ulip-with-args.pt"
    torch.save({"state_dict": _ulip_point_state(donor), "args": argparse.Namespace(model="ULIP_PointBERT")}, path)
    state = read_checkpoint(path)  # ULIP keeps its argparse Namespace next to the weights
    report = load_point_branch(_fresh(), state, source="ulip")
    assert report.ok
    assert report.allowed_missing == ("point_encoder.mask_token",)
    assert "kept at their current values (1): point_encoder.mask_token" in str(report)

    tracked = next(k for k in state if k.endswith("num_batches_tracked"))
    del state[tracked]  # checkpoints of old torch versions lack the BatchNorm step counters
    report = load_point_branch(_fresh(), state, source="ulip")
    assert report.ok
    assert tracked in report.allowed_missing

    del state["point_encoder.norm.bias"]
    with pytest.raises(CheckpointMismatchError, match="Pass strict=False") as caught:
        load_point_branch(_fresh(), state, source="ulip")
    assert caught.value.report.missing == ("point_encoder.norm.bias",)


def test_finetuned_pointbert_checkpoint_loads_with_an_explicit_source(donor: CrossModalModel) -> None:
    finetuned = {
        "module." + k.removeprefix("point_encoder."): v.clone()
        for k, v in donor.state_dict().items()
        if k.startswith("point_encoder.") and k != "point_encoder.mask_token"
    }
    finetuned["module.cls_head_finetune.0.weight"] = torch.zeros(4, 4)
    model = _fresh()
    report = load_point_branch(model, finetuned, source="pointbert")
    assert report.ok
    assert report.allowed_missing == ("point_encoder.mask_token",)
    assert report.skipped == ("cls_head_finetune.0.weight",)
    _assert_same(model, donor, "point_encoder.blocks")
