"""The point-tower families: full-size parameter counts on the meta device, configs as data, input conventions,
masking, and models over image towers that cannot be masked."""

from __future__ import annotations

import warnings

import pytest
import torch

from crossmost_models import CrossModalConfig, create_model, get_model_config
from crossmost_models.clip import import_open_clip
from crossmost_models.point import (
    PointInputConfig,
    PpatConfig,
    PpatEncoder,
    Uni3dConfig,
    build_point_encoder,
    point_config_from_dict,
    prepare_points,
)

# Published parameter counts of the point towers, in millions, as gathered in the project's spec
# (shared/spec/backbones.md, from the projects' own repositories and model cards): ULIP-2's Point-BERT encoder 32.5 M
# without its projection (our count leaves out crossmost's mask token, which the release lacks); OpenShape's PointBERT
# 32.3 M with its projection; Uni3D ti / s / b / l / g: the parameters its forward pass uses, with trans2embed and
# without the timm patch embedding, position table, class token and head that the released files also carry.
PUBLISHED = {
    "ulip2-pointbert-vitg14": (32.5, False),
    "openshape-pointbert-vitg14": (32.3, True),
    "uni3d-ti": (6.22, True),
    "uni3d-s": (22.50, True),
    "uni3d-b": (86.95, True),
    "uni3d-l": (304.67, True),
    "uni3d-g": (1012.86, True),
}
TOLERANCE = 0.005  # relative


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_full_size_point_towers_build_on_meta_with_the_published_parameter_count(name: str) -> None:
    config = CrossModalConfig.from_dict(get_model_config(name))
    published, with_projection = PUBLISHED[name]
    with torch.device("meta"):
        encoder = build_point_encoder(config.point)
    assert all(p.device.type == "meta" for p in encoder.parameters())
    count = sum(p.numel() for name_, p in encoder.named_parameters() if name_ != "mask_token")
    if with_projection:
        embed = int(import_open_clip().get_model_config(config.clip)["embed_dim"])
        count += encoder.feature_dim * embed + (embed if config.point.projection_bias else 0)
    assert abs(count / 1e6 - published) <= TOLERANCE * published, (count, published)


@pytest.mark.parametrize(
    ("name", "clip", "embed", "up"),
    [
        ("ulip2-pointbert-vitg14", "ViT-bigG-14", 1280, "z"),
        ("openshape-pointbert-vitg14", "ViT-bigG-14", 1280, "z"),
        ("openshape-pointbert-vitl14", "ViT-L-14", 768, "y"),
        ("openshape-pointbert-vitb32", "ViT-B-32", 512, "y"),  # y up, as OpenShape's model table says
        ("uni3d-g", "EVA02-E-14-plus", 1024, "z"),
    ],
)
def test_named_models_pair_each_tower_with_its_open_clip_towers(name: str, clip: str, embed: int, up: str) -> None:
    config = CrossModalConfig.from_dict(get_model_config(name))
    assert config.clip == clip
    assert clip in import_open_clip().list_models()
    assert import_open_clip().get_model_config(clip)["embed_dim"] == embed
    assert config.point_inputs == PointInputConfig(missing_color=0.4, up_axis=up, normalize="unit_sphere")  # type: ignore[arg-type]
    assert config.point.in_channels == 6
    assert config.num_points == 10000


@pytest.mark.parametrize("name", ["ulip2-tiny", "openshape-tiny", "uni3d-tiny", "uni3d-g", "tiny"])
def test_configs_round_trip_through_json_dicts(name: str) -> None:
    config = CrossModalConfig.from_dict(get_model_config(name))
    assert CrossModalConfig.from_dict(config.to_dict()) == config
    assert point_config_from_dict(config.point.to_dict()) == config.point


def test_a_config_without_family_is_point_bert_and_unknown_families_are_named() -> None:
    assert point_config_from_dict({"trans_dim": 64, "num_heads": 4}).family == "pointbert"
    with pytest.raises(ValueError, match="unknown point-tower family 'pointnet'"):
        point_config_from_dict({"family": "pointnet"})
    with pytest.raises(ValueError, match="radius must be positive"):
        PpatConfig(radius=0.0)
    with pytest.raises(ValueError, match="unknown Uni3D trunk"):
        Uni3dConfig.from_timm_model("vit_base_patch16_224")


def test_prepare_points_applies_the_released_conventions() -> None:
    released = PointInputConfig(missing_color=0.4, up_axis="z", normalize="unit_sphere")
    cloud = torch.tensor([[[1.0, 3.0, 0.0], [3.0, 3.0, 0.0], [2.0, 5.0, 0.0], [2.0, 1.0, 0.0]]])
    out = prepare_points(cloud, released, 6)
    # y up becomes z up by swapping the columns; centred on the mean (2, 3, 0), the farthest point at radius 1.
    expected_xyz = torch.tensor([[[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    torch.testing.assert_close(out[..., :3], expected_xyz)
    assert torch.equal(out[..., 3:], torch.full((1, 4, 3), 0.4))
    coloured = torch.cat([cloud, torch.rand(1, 4, 3)], dim=-1)
    assert torch.equal(prepare_points(coloured, released, 6)[..., 3:], coloured[..., 3:])
    assert torch.equal(prepare_points(coloured, released, 3), out[..., :3])
    crossmost = PointInputConfig()
    assert prepare_points(coloured, crossmost, 6) is coloured  # crossmost's own towers: clouds as given
    assert torch.equal(prepare_points(coloured, crossmost, 3), coloured[..., :3])
    y_up = PointInputConfig(missing_color=0.4, up_axis="y", normalize="unit_sphere")
    torch.testing.assert_close(
        prepare_points(cloud, y_up, 3), torch.tensor([[[-0.5, 0, 0], [0.5, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]])
    )
    with pytest.raises(ValueError, match="transpose"):
        prepare_points(cloud.transpose(1, 2), released, 6)


def test_ppat_masking_keeps_the_centres_and_the_unmasked_target() -> None:
    encoder = PpatEncoder(PpatConfig(trans_dim=32, depth=1, num_heads=2, set_abstraction_widths=(8, 8, 16),
                                     num_group=16, group_size=8, radius=0.4)).eval()  # fmt: skip
    points = torch.rand(2, 128, 6) * 2 - 1
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :5] = True
    plain = encoder(points)
    masked = encoder(points, group_mask=mask)
    assert torch.equal(masked.centers, plain.centers)
    assert torch.equal(masked.pre_mask_tokens, plain.pre_mask_tokens)
    assert not torch.allclose(masked.global_feature, plain.global_feature)
    assert masked.global_feature.shape == (2, 32)
    assert masked.tokens.shape == (2, 16, 32)
    drawn = encoder(points, mask_groups=True)
    assert drawn.group_mask is not None
    assert drawn.group_mask.shape == (2, 16)


def test_a_tower_that_cannot_be_masked_is_named_at_build_time_and_runs_without_image_mim() -> None:
    with pytest.warns(UserWarning, match="crossmost-tiny-timm-clip.*cannot be masked"):
        model = create_model("uni3d-tiny", classnames=["a", "b"])
    assert not model.supports_image_masking
    images = torch.randn(2, 3, *model.image_size)
    mask = torch.ones(2, *model.patch_grid, dtype=torch.bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model(images, torch.rand(2, 512, 3), image_mask=mask, mask_points=True)
    assert out.image_reconstruction is None
    assert out.image_local_embedding is None
    assert out.point_token_prediction is not None
    assert out.image_logits.shape == (2, 2)


def test_the_point_transform_of_a_released_family_fills_its_grey() -> None:
    import numpy as np

    from crossmost_models import get_transforms

    model = create_model("openshape-tiny", classnames=["a", "b"])
    _, transform = get_transforms(model)
    cloud = transform(np.random.default_rng(0).standard_normal((900, 3)))
    assert cloud.shape == (512, 6)
    assert torch.equal(cloud[:, 3:], torch.full((512, 3), 0.4))


def test_layer_ids_of_a_timm_tower_follow_its_blocks() -> None:
    from crossmost_models import vit_layer_id

    assert vit_layer_id("image_tower.visual.trunk.blocks.3.attn.qkv.weight", 12) == 4
    assert vit_layer_id("image_tower.visual.trunk.patch_embed.proj.weight", 12) == 0
    assert vit_layer_id("image_tower.visual.trunk.pos_embed", 12) == 0
    assert vit_layer_id("image_tower.visual.head.proj.weight", 12) == 13
