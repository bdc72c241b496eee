"""Released checkpoints of ULIP-2, OpenShape and Uni3D, written at tiny width in the layout of the published files
(containers, prefixes, key names, fp16), loaded strictly through the public API, compared with reference forwards."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossmost_models import CrossModalModel, LoadReport, create_model
from crossmost_models.interop import load_point_branch
from crossmost_models.interop.released import UNI3D_UNUSED, released_family
from crossmost_models.ops import ball_query, farthest_point_sample, group_points
from crossmost_models.point.uni3d import Uni3dConfig, Uni3dEncoder

CLASSES = ["chair", "table", "lamp"]


def _model(name: str) -> CrossModalModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the tiny timm tower cannot be masked: said at build time
        return create_model(name, classnames=CLASSES).eval()


def _clouds(seed: int = 0, batch: int = 2, points: int = 512) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    xyz = torch.rand(batch, points, 3, generator=generator) * 2 - 1
    return torch.cat([xyz, torch.rand(batch, points, 3, generator=generator)], dim=-1)


def _random(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return (torch.randn(shape, generator=generator) * 0.2).half()


def _batchnorm(prefix: str, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.weight": 1 + _random((width,), generator),
        f"{prefix}.bias": _random((width,), generator),
        f"{prefix}.running_mean": _random((width,), generator),
        f"{prefix}.running_var": 1 + _random((width,), generator).abs(),
        f"{prefix}.num_batches_tracked": torch.tensor(7),
    }


def _openshape_state(width: int = 64, depth: int = 2, hidden: int = 128, embed: int = 32) -> dict[str, torch.Tensor]:
    """OpenShape's PointPatchTransformer + proj names (``ppat.*``, ``proj.*``), as in the released ``model.pt``."""
    g = torch.Generator().manual_seed(1)
    state: dict[str, torch.Tensor] = {}
    last = 9
    for i, out in enumerate((16, 16, 32)):
        state[f"ppat.sa.mlp_convs.{i}.weight"] = _random((out, last, 1, 1), g)
        state[f"ppat.sa.mlp_convs.{i}.bias"] = _random((out,), g)
        state.update(_batchnorm(f"ppat.sa.mlp_bns.{i}", out, g))
        last = out
    state["ppat.lift.0.weight"] = _random((width, 32 + 3, 1), g)
    state["ppat.lift.0.bias"] = _random((width,), g)
    state["ppat.lift.2.weight"] = 1 + _random((width,), g)
    state["ppat.lift.2.bias"] = _random((width,), g)
    state["ppat.cls_token"] = _random((width,), g)
    for i in range(depth):
        layer = f"ppat.transformer.layers.{i}"
        for part in (0, 1):
            state[f"{layer}.{part}.norm.weight"] = 1 + _random((width,), g)
            state[f"{layer}.{part}.norm.bias"] = _random((width,), g)
        state[f"{layer}.0.fn.to_qkv.weight"] = _random((3 * width, width), g)
        state[f"{layer}.0.fn.to_out.0.weight"] = _random((width, width), g)
        state[f"{layer}.0.fn.to_out.0.bias"] = _random((width,), g)
        state[f"{layer}.1.fn.net.0.weight"] = _random((hidden, width), g)
        state[f"{layer}.1.fn.net.0.bias"] = _random((hidden,), g)
        state[f"{layer}.1.fn.net.3.weight"] = _random((width, hidden), g)
        state[f"{layer}.1.fn.net.3.bias"] = _random((width,), g)
    state["proj.weight"] = _random((embed, width), g)
    state["proj.bias"] = _random((embed,), g)
    return state


def _openshape_reference(state: dict[str, torch.Tensor], points: torch.Tensor, heads: int = 4) -> torch.Tensor:
    """OpenShape's forward, written from its model code: set abstraction (ball query, 1×1 convs, BN, ReLU, max),
    lift of [centre ; feature], CLS, pre-LN blocks without a final norm, ``proj`` of the CLS token."""
    s = {k: v.float() for k, v in state.items()}
    starts = farthest_point_sample(points, 32)
    centers = points[torch.arange(len(points)).unsqueeze(1), starts][..., :3]
    indices, relative = ball_query(points[..., :3], centers, 0.3, 16)
    grouped = torch.cat([relative, points[torch.arange(len(points)).view(-1, 1, 1), indices]], dim=-1)
    x = grouped.permute(0, 3, 2, 1)
    for i in range(3):
        x = F.conv2d(x, s[f"ppat.sa.mlp_convs.{i}.weight"], s[f"ppat.sa.mlp_convs.{i}.bias"])
        bn = f"ppat.sa.mlp_bns.{i}"
        x = F.batch_norm(x, s[f"{bn}.running_mean"], s[f"{bn}.running_var"], s[f"{bn}.weight"], s[f"{bn}.bias"])
        x = F.relu(x)
    feature = x.max(dim=2).values  # B×C×G
    x = F.conv1d(torch.cat([centers.transpose(1, 2), feature], dim=1), s["ppat.lift.0.weight"], s["ppat.lift.0.bias"])
    x = F.layer_norm(x.permute(0, 2, 1), (x.shape[1],), s["ppat.lift.2.weight"], s["ppat.lift.2.bias"])
    x = torch.cat([s["ppat.cls_token"].expand(len(x), 1, -1), x], dim=1)
    width = x.shape[-1]
    for i in range(2):
        layer = f"ppat.transformer.layers.{i}"
        h = F.layer_norm(x, (width,), s[f"{layer}.0.norm.weight"], s[f"{layer}.0.norm.bias"])
        q, k, v = (
            t.reshape(len(x), -1, heads, width // heads).transpose(1, 2)
            for t in F.linear(h, s[f"{layer}.0.fn.to_qkv.weight"]).chunk(3, dim=-1)
        )
        attn = torch.softmax(q @ k.transpose(-1, -2) * (width // heads) ** -0.5, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(len(x), -1, width)
        x = x + F.linear(out, s[f"{layer}.0.fn.to_out.0.weight"], s[f"{layer}.0.fn.to_out.0.bias"])
        h = F.layer_norm(x, (width,), s[f"{layer}.1.norm.weight"], s[f"{layer}.1.norm.bias"])
        h = F.linear(F.gelu(F.linear(h, s[f"{layer}.1.fn.net.0.weight"], s[f"{layer}.1.fn.net.0.bias"])),
                     s[f"{layer}.1.fn.net.3.weight"], s[f"{layer}.1.fn.net.3.bias"])  # fmt: skip
        x = x + h
    return F.linear(x[:, 0], s["proj.weight"], s["proj.bias"])


def _prepared(model: CrossModalModel, clouds: torch.Tensor) -> torch.Tensor:
    prepared = model.prepare_points(clouds)
    assert torch.equal(prepared[..., 3:], clouds[..., 3:])  # colour kept
    return prepared


@pytest.mark.parametrize("layout", ["vitg14", "vitl14"])
def test_openshape_release_loads_strictly_and_matches_its_reference_forward(layout: str, tmp_path: Path) -> None:
    state = _openshape_state()
    path = tmp_path / "model.pt"
    if layout == "vitg14":  # ckpt["state_dict"] with DDP prefixes, next to the optimiser state
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 9, "optimizer": {}}, path)
    else:  # a flat dict under pc_encoder.
        torch.save({f"pc_encoder.{k}": v for k, v in state.items()}, path)
    assert released_family(path) == "ppat"
    model = _model("openshape-tiny")
    report = load_point_branch(model, path)
    assert isinstance(report, LoadReport)
    assert report.ok
    assert report.allowed_missing == ("point_encoder.mask_token",)
    assert torch.equal(
        model.point_encoder.blocks.blocks[1].mlp.fc2.weight,
        state["ppat.transformer.layers.1.1.fn.net.3.weight"].float(),
    )
    assert torch.equal(
        model.point_encoder.encoder.mlp_bns[2].running_var, state["ppat.sa.mlp_bns.2.running_var"].float()
    )
    assert torch.equal(model.point_projection.bias, state["proj.bias"].float())
    clouds = _clouds()
    with torch.no_grad():
        ours = model.point_projection(model.point_encoder(_prepared(model, clouds)).global_feature)
        reference = _openshape_reference(state, _prepared(model, clouds))
        logits = model.classify(model.encode_points(clouds))
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    assert logits.shape == (2, len(CLASSES))
    assert torch.isfinite(logits).all()


def test_an_extra_or_missing_release_key_is_an_error_that_names_it(tmp_path: Path) -> None:
    state = _openshape_state()
    with pytest.raises(ValueError, match=r"ppat\.transformer\.layers\.0\.0\.fn\.pe\.0\.weight"):
        load_point_branch(
            _model("openshape-tiny"), {**state, "ppat.transformer.layers.0.0.fn.pe.0.weight": torch.zeros(1)}
        )
    del state["ppat.lift.2.bias"]
    with pytest.raises(ValueError, match=r"point_encoder\.lift_norm\.bias"):
        load_point_branch(_model("openshape-tiny"), state)


def _uni3d_trunk(config: Uni3dConfig) -> torch.nn.Module:
    """The timm EVA ViT Uni3D wraps (``visual``), at tiny width: the released file holds its state dict."""
    from timm.models.eva import Eva

    return Eva(
        img_size=28, patch_size=14, embed_dim=config.trans_dim, depth=config.depth, num_heads=config.num_heads,
        mlp_ratio=config.mlp_ratio, qkv_fused=config.qkv_fused, swiglu_mlp=config.swiglu_mlp,
        scale_mlp=config.scale_mlp, use_rot_pos_emb=True, ref_feat_shape=(2, 2), num_classes=10,
    )  # fmt: skip


def _uni3d_state(config: Uni3dConfig, embed: int = 32) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    g = torch.Generator().manual_seed(2)
    trunk = _uni3d_trunk(config)
    with torch.no_grad():
        for parameter in trunk.parameters():
            parameter.copy_(_random(tuple(parameter.shape), g).float())
    widths, dims = config.tokenizer_widths, config.encoder_dims
    state = {f"point_encoder.visual.{k}": v.half() for k, v in trunk.state_dict().items()}
    conv = {"first_conv.0": (widths[0], 6), "first_conv.3": (widths[1], widths[0]),
            "second_conv.0": (widths[2], 2 * widths[1]), "second_conv.3": (dims, widths[2])}  # fmt: skip
    for name, (out, inp) in conv.items():
        state[f"point_encoder.encoder.{name}.weight"] = _random((out, inp, 1), g)
        state[f"point_encoder.encoder.{name}.bias"] = _random((out,), g)
    state.update(_batchnorm("point_encoder.encoder.first_conv.1", widths[0], g))
    state.update(_batchnorm("point_encoder.encoder.second_conv.1", widths[2], g))
    width = config.trans_dim
    shapes = {"encoder2trans.weight": (width, dims), "encoder2trans.bias": (width,),
              "trans2embed.weight": (embed, width), "trans2embed.bias": (embed,),
              "cls_token": (1, 1, width), "cls_pos": (1, 1, width),
              "pos_embed.0.weight": (128, 3), "pos_embed.0.bias": (128,), "pos_embed.2.weight": (width, 128),
              "pos_embed.2.bias": (width,)}  # fmt: skip
    for name, shape in shapes.items():
        state[f"point_encoder.{name}"] = _random(shape, g)
    state["logit_scale"] = torch.tensor(2.6592).half()
    return state, trunk


def _uni3d_reference(state: dict[str, torch.Tensor], trunk: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    """Uni3D's PointcloudEncoder.forward over the timm trunk: tokens + positions once, blocks, ``norm`` and
    ``fc_norm`` of the CLS token, ``trans2embed``."""
    from crossmost_models.point.tokenizer import PointTokenizer

    s = {k.removeprefix("point_encoder."): v.float() for k, v in state.items()}
    groups, centers = group_points(points, 32, 16, start="fixed")
    tokenizer = PointTokenizer(6, 64, (16, 32, 64)).eval()
    tokenizer.load_state_dict({k.removeprefix("encoder."): v for k, v in s.items() if k.startswith("encoder.")})
    tokens = F.linear(tokenizer(groups), s["encoder2trans.weight"], s["encoder2trans.bias"])
    pos = F.linear(F.gelu(F.linear(centers, s["pos_embed.0.weight"], s["pos_embed.0.bias"])),
                   s["pos_embed.2.weight"], s["pos_embed.2.bias"])  # fmt: skip
    x = torch.cat([s["cls_token"].expand(len(points), -1, -1), tokens], dim=1)
    x = x + torch.cat([s["cls_pos"].expand(len(points), -1, -1), pos], dim=1)
    trunk = trunk.eval().float()
    for block in trunk.blocks:
        x = block(x)
    x = trunk.fc_norm(trunk.norm(x[:, 0]))
    return F.linear(x, s["trans2embed.weight"], s["trans2embed.bias"])


@pytest.mark.parametrize("variant", ["fused", "separate", "giant"])
def test_uni3d_release_loads_strictly_and_matches_timm(variant: str, tmp_path: Path) -> None:
    model = _model("uni3d-tiny")
    blocks = {
        "fused": {},  # ti / s: fused qkv with q/v biases, packed SwiGLU
        "separate": {"qkv_fused": False, "scale_mlp": True},  # b / l: q/k/v_proj, SwiGLU with its own norm
        "giant": {"swiglu_mlp": False, "mlp_ratio": 4.0},  # g: fused qkv, GELU MLP
    }[variant]
    config = Uni3dConfig.from_dict({**model.config.point.to_dict(), **blocks})
    if blocks:
        model.point_encoder = Uni3dEncoder(config).eval()
    state, trunk = _uni3d_state(config)
    path = tmp_path / "model.pt"
    torch.save({"module": state, "buffer_names": [], "ds_version": "0.10.0", "global_steps": 100}, path)
    assert released_family(path) == "uni3d"
    report = load_point_branch(model, path)
    assert report.ok
    assert set(report.skipped) == {k for k in state if k.startswith(UNI3D_UNUSED)}
    assert "point_encoder.visual.head.weight" in report.skipped
    assert "logit_scale" in report.skipped
    assert torch.equal(model.point_encoder.fc_norm.weight, state["point_encoder.visual.fc_norm.weight"].float())
    assert model.point_projection.weight.dtype == torch.float32
    clouds = _clouds(1)
    with torch.no_grad():
        ours = model.point_projection(model.point_encoder(_prepared(model, clouds)).global_feature)
        reference = _uni3d_reference(state, trunk, _prepared(model, clouds))
        logits = model.classify(model.encode_points(clouds))
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    assert logits.shape == (2, len(CLASSES))


def test_ulip2_release_loads_through_the_ulip_layout(tmp_path: Path) -> None:
    donor = _model("ulip2-tiny")
    g = torch.Generator().manual_seed(3)
    state = {f"point_encoder.{k}": _random(tuple(v.shape), g) if v.is_floating_point() else v
             for k, v in donor.point_encoder.state_dict().items() if k != "mask_token"}  # fmt: skip
    for key in [k for k in state if k.endswith("running_var")]:
        state[key] = 1 + state[key].abs()
    projection = _random((128, 32), g)  # ULIP-2's pc_projection: a 2W×D parameter applied as x @ P
    path = tmp_path / "ULIP-2-PointBERT-10k-xyzrgb-pc-vit_g-objaverse_shapenet-pretrained.pt"
    torch.save({"state_dict": {**{f"module.{k}": v for k, v in state.items()}, "module.pc_projection": projection,
                               "module.logit_scale": torch.tensor(2.0)}, "epoch": 1}, path)  # fmt: skip
    assert released_family(path) == "pointbert"
    model = _model("ulip2-tiny")
    report = load_point_branch(model, path)
    assert report.ok
    assert report.skipped == ("logit_scale",)
    clouds = _clouds(2)
    with torch.no_grad():
        feature = model.point_encoder(model.prepare_points(clouds)).global_feature
        assert torch.equal(
            model.point_encoder.blocks.blocks[0].attn.qkv.weight,
            state["point_encoder.blocks.blocks.0.attn.qkv.weight"].float(),
        )
        torch.testing.assert_close(model.point_projection(feature), feature @ projection.float())
        assert model.classify(model.encode_points(clouds)).shape == (2, len(CLASSES))


def test_a_release_that_pickles_objects_is_refused_then_converted_once_to_safetensors(tmp_path: Path) -> None:
    from fractions import Fraction

    from crossmost_models.interop import read_checkpoint
    from crossmost_models.interop.to_safetensors import convert_to_safetensors, main

    state = _openshape_state()
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "scheduler": Fraction(1, 3)}, path)
    with pytest.raises(ValueError, match="unpickle"):
        read_checkpoint(path)
    with pytest.raises(ValueError, match="unpickle"):
        convert_to_safetensors(path, tmp_path / "model.safetensors")
    assert not list(tmp_path.glob("*.safetensors"))
    assert not list(tmp_path.glob(".*partial"))
    assert main([str(path), str(tmp_path / "model.safetensors"), "--trust-pickle"]) == 0
    converted = read_checkpoint(tmp_path / "model.safetensors")
    assert converted.keys() == state.keys()
    assert all(torch.equal(converted[k], v) for k, v in state.items())  # fp16 kept: the load upcasts
    model = _model("openshape-tiny")
    assert load_point_branch(model, tmp_path / "model.safetensors").ok
    assert torch.equal(model.point_encoder.cls_token, state["ppat.cls_token"].float())
