"""The "Init ✗" ablation as the paper ran it: the point tower skips the aligned pre-training but keeps its
pre-trained tokenizer, which can also be loaded on its own (Point-BERT's dVAE, ULIP, crossmost checkpoints)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import crossmost_models as cm
from crossmost_train.config import ConfigError, load_config
from crossmost_train.run_builder import build_model

CLASSES = ["cup", "vase", "desk"]
POINT_PREFIXES = ("point_encoder.", "point_projection.", "point_local_projection.", "mpm_head.")


def _pretrained_point_branch(path: Path, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = cm.create_model("tiny", classnames=CLASSES)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k.startswith(POINT_PREFIXES)}
    save_file(state, str(path))
    return state


def _tokenizer(state: dict[str, torch.Tensor], prefix: str = "point_encoder.encoder.") -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def test_no_init_keeps_the_pretrained_tokenizer_and_resets_the_rest(tmp_path: Path) -> None:
    branch = tmp_path / "ulip.safetensors"
    saved = _pretrained_point_branch(branch, seed=1)
    aligned = build_model(load_config(["tiny"], [f"model.point_pretrained={branch}"]), CLASSES).state_dict()
    cfg = load_config(["tiny", "ablation-no-init"], [f"model.point_pretrained={branch}"])
    assert cfg.objective.strategy == "joint"  # Table 3's "Init ✗" row keeps the joint labels
    scratch = build_model(cfg, CLASSES).state_dict()
    for key, value in _tokenizer(saved).items():
        assert torch.equal(scratch[f"point_encoder.encoder.{key}"], value), key
        assert torch.equal(aligned[f"point_encoder.encoder.{key}"], value), key
    reset = [k for k in saved if not k.startswith("point_encoder.encoder.") and k.endswith("weight")]
    assert reset
    for key in reset:
        assert torch.equal(aligned[key], saved[key]), key
        assert not torch.equal(scratch[key], saved[key]), f"{key} kept the aligned weights"


@pytest.mark.parametrize("layout", ["pointbert-dvae", "ulip", "crossmost", "crossmost-folder"])
def test_tokenizer_weights_load_on_their_own(tmp_path: Path, layout: str) -> None:
    donor = _pretrained_point_branch(tmp_path / "donor.safetensors", seed=2)
    tokenizer = _tokenizer(donor)
    path = tmp_path / "weights.pt"
    if layout == "pointbert-dvae":  # dVAE.pth: the tokenizer at the top level next to the dVAE's own modules
        weights = {f"module.encoder.{k}": v for k, v in tokenizer.items()} | {"module.codebook": torch.randn(8, 4)}
        torch.save({"base_model": weights, "epoch": 3}, path)
    elif layout == "ulip":
        weights = {f"module.point_encoder.encoder.{k}": v for k, v in tokenizer.items()}
        torch.save({"state_dict": weights | {"module.pc_projection": torch.randn(4, 4)}}, path)
    elif layout == "crossmost":
        path = tmp_path / "donor.safetensors"
    else:  # the folder a saved crossmost model is, with its weights file inside
        path = tmp_path / "saved"
        path.mkdir()
        (tmp_path / "donor.safetensors").rename(path / "model.safetensors")
    torch.manual_seed(0)
    before = build_model(load_config(["tiny"]), CLASSES).state_dict()
    torch.manual_seed(0)
    model = build_model(load_config(["tiny"], [f"model.point_tokenizer_pretrained={path}"]), CLASSES)
    after = model.state_dict()
    for key, value in after.items():
        if key.startswith("point_encoder.encoder."):
            assert torch.equal(value, tokenizer[key.removeprefix("point_encoder.encoder.")]), key
        else:
            assert torch.equal(value, before[key]), f"{key} changed, only the tokenizer may"


def test_a_file_without_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"visual.proj": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ConfigError, match="holds no mini-PointNet tokenizer"):
        build_model(load_config(["tiny"], [f"model.point_tokenizer_pretrained={path}"]), CLASSES)
