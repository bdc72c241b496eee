"""The mini-PointNet tokenizer and the Point-BERT encoder on tiny configurations."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from crossmost_models.point import PointBertConfig, PointBertEncoder, PointTokenizer

TINY = {
    "trans_dim": 32,
    "depth": 2,
    "num_heads": 4,
    "encoder_dims": 48,
    "num_group": 8,
    "group_size": 8,
    "drop_path_rate": 0.0,
}


def _encoder(seed: int = 0, **overrides: object) -> PointBertEncoder:
    torch.manual_seed(seed)
    return PointBertEncoder(PointBertConfig.from_dict({**TINY, **overrides}))


def _points(seed: int = 0, batch: int = 3, channels: int = 3) -> torch.Tensor:
    return torch.randn(batch, 256, channels, generator=torch.Generator().manual_seed(seed))


def _reference_forward(model: PointBertEncoder, points: torch.Tensor, *, once: bool = False) -> torch.Tensor:
    """Point-BERT's forward written out by hand (positions before every block unless ``once``)."""
    neighbourhoods, centers = model.group(points, fps_start="fixed")
    tokens = model.reduce_dim(model.encoder(neighbourhoods))
    batch = points.shape[0]
    x = torch.cat([model.cls_token.expand(batch, -1, -1), tokens], dim=1)
    pos = torch.cat([model.cls_pos.expand(batch, -1, -1), model.pos_embed(centers)], dim=1)
    for index, block in enumerate(model.blocks.blocks):
        x = block(x + pos) if (index == 0 or not once) else block(x)
    return model.norm(x)


def test_tokenizer_matches_a_hand_written_mini_pointnet() -> None:
    torch.manual_seed(0)
    tokenizer = PointTokenizer(in_channels=3, out_dims=24).eval()
    groups = torch.randn(2, 5, 7, 3)
    tokens = tokenizer(groups)
    assert tokens.shape == (2, 5, 24)

    def conv_bn_relu_conv(x: torch.Tensor, layers: torch.nn.Sequential) -> torch.Tensor:
        conv1, bn, _, conv2 = layers
        h = x @ conv1.weight.squeeze(-1).T + conv1.bias
        h = (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        return h.relu() @ conv2.weight.squeeze(-1).T + conv2.bias

    first = conv_bn_relu_conv(groups, tokenizer.first_conv)  # B×G×K×256
    pooled = first.amax(dim=2, keepdim=True).expand_as(first)
    second = conv_bn_relu_conv(torch.cat([pooled, first], dim=-1), tokenizer.second_conv)
    torch.testing.assert_close(tokens, second.amax(dim=2), rtol=1e-4, atol=1e-5)
    # Max-pooling makes the token independent of the order of the points in a group.
    torch.testing.assert_close(tokenizer(groups[:, :, torch.randperm(7)]), tokens, rtol=1e-5, atol=1e-6)


def test_output_shapes_and_global_feature_layout() -> None:
    model = _encoder().eval()
    out = model(_points())
    assert out.global_feature.shape == (3, 64)
    assert out.tokens.shape == (3, 8, 32)
    assert out.cls_token.shape == (3, 32)
    assert out.pre_mask_tokens.shape == (3, 8, 32)
    assert out.centers.shape == (3, 8, 3)
    assert out.group_mask is None
    expected = torch.cat([out.cls_token, out.tokens.max(dim=1).values], dim=-1)
    torch.testing.assert_close(out.global_feature, expected, rtol=0, atol=0)


def test_forward_equals_the_reference_with_positions_before_every_block() -> None:
    model = _encoder().eval()
    points = _points(1)
    out = model(points)
    with torch.no_grad():
        reference = _reference_forward(model, points)
        once = _reference_forward(model, points, once=True)
    torch.testing.assert_close(out.cls_token, reference[:, 0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.tokens, reference[:, 1:], rtol=1e-5, atol=1e-6)
    assert (out.tokens - once[:, 1:]).abs().max() > 1e-3  # adding positions only once gives something else


def test_every_block_receives_its_input_plus_the_positional_embedding() -> None:
    model = _encoder().eval()
    points = _points(2)
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    for block in model.blocks.blocks:
        block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach()))
        block.register_forward_hook(lambda _m, _a, result: outputs.append(result.detach()))
    out = model(points)
    pos = torch.cat([model.cls_pos.expand(3, -1, -1), model.pos_embed(out.centers)], dim=1).detach()
    first_input = torch.cat([model.cls_token.expand(3, -1, -1), out.pre_mask_tokens], dim=1).detach()
    torch.testing.assert_close(inputs[0], first_input + pos)
    torch.testing.assert_close(inputs[1], outputs[0] + pos)


def test_masked_tokens_are_replaced_by_the_mask_token_and_keep_their_position() -> None:
    model = _encoder().eval()
    points = _points(3)
    mask = torch.zeros(3, 8, dtype=torch.bool)
    mask[0, :3] = True
    mask[2, 5] = True
    seen: list[torch.Tensor] = []
    model.blocks.blocks[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    masked = model(points, group_mask=mask)
    unmasked = model(points)
    assert masked.group_mask is not None
    assert torch.equal(masked.group_mask, mask)
    torch.testing.assert_close(masked.pre_mask_tokens, unmasked.pre_mask_tokens)
    pos = model.pos_embed(masked.centers).detach()
    group_inputs = seen[0][:, 1:] - pos
    torch.testing.assert_close(group_inputs[mask], model.mask_token.detach().reshape(1, 32).expand(4, -1))
    torch.testing.assert_close(group_inputs[~mask], masked.pre_mask_tokens.detach()[~mask])
    assert not torch.allclose(masked.tokens[0], unmasked.tokens[0])
    torch.testing.assert_close(masked.tokens[1], unmasked.tokens[1])  # nothing masked in sample 1


def test_drawn_masks_have_the_configured_count_and_gradients_reach_the_mask_token() -> None:
    model = _encoder(mask_ratio=(0.25, 0.25)).train()
    out = model(_points(4), mask_groups=True, generator=torch.Generator().manual_seed(0))
    assert out.group_mask is not None
    assert out.group_mask.sum(1).tolist() == [2, 2, 2]
    out.global_feature.sum().backward()
    assert model.mask_token.grad is not None
    assert bool(model.mask_token.grad.abs().sum() > 0)
    again = model(_points(4), mask_groups=True, generator=torch.Generator().manual_seed(0))
    assert again.group_mask is not None
    assert torch.equal(again.group_mask, out.group_mask)


def test_eval_mode_is_deterministic_and_train_mode_starts_fps_at_random() -> None:
    model = _encoder()
    points = _points(5)
    model.eval()
    first, second = model(points), model(points)
    torch.testing.assert_close(first.global_feature, second.global_feature, rtol=0, atol=0)
    model.train()
    seeded = [model(points, generator=torch.Generator().manual_seed(s)).centers for s in (0, 0, 1)]
    torch.testing.assert_close(seeded[0], seeded[1], rtol=0, atol=0)
    assert not torch.equal(seeded[0], seeded[2])
    fixed = _encoder(fps_start="fixed").train()
    assert torch.equal(fixed(points).centers, first.centers)


def test_frozen_tokenizer_keeps_its_batchnorm_statistics_in_train_mode() -> None:
    model = _encoder()
    model.freeze_tokenizer()
    model.train()
    bn = model.encoder.first_conv[1]
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    out = model(_points(6))
    out.global_feature.sum().backward()
    assert model.tokenizer_frozen
    assert not model.encoder.training
    assert model.blocks.training
    for key, value in model.encoder.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)
    assert all(p.grad is None and not p.requires_grad for p in model.encoder.parameters())
    assert model.reduce_dim.weight.grad is not None
    assert int(bn.num_batches_tracked) == 0
    model.unfreeze_tokenizer()
    assert model.encoder.training
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_official_behaviour_lets_frozen_tokenizer_statistics_drift() -> None:
    model = _encoder(freeze_tokenizer_stats=False)
    model.freeze_tokenizer()
    model.train()
    before = model.encoder.first_conv[1].running_mean.clone()
    model(_points(7))
    assert not torch.equal(model.encoder.first_conv[1].running_mean, before)
    assert all(not p.requires_grad for p in model.encoder.parameters())


def test_colour_input_and_dtype_casting() -> None:
    model = _encoder(in_channels=6).eval()
    points = _points(8, channels=6)
    out = model(points.double())
    assert out.global_feature.dtype == torch.float32
    torch.testing.assert_close(out.global_feature, model(points).global_feature)
    assert model.encoder.first_conv[0].weight.shape == (128, 6, 1)


@pytest.mark.parametrize(
    ("kwargs", "points", "message"),
    [
        ({}, torch.zeros(2, 3, 256), "transpose"),
        ({}, torch.zeros(2, 4, 3), "at least 8"),
        ({"group_mask": torch.zeros(2, 7, dtype=torch.bool)}, None, "group_mask must be a bool tensor of shape"),
        ({"group_mask": torch.zeros(2, 8)}, None, "group_mask must be a bool tensor"),
    ],
)
def test_encoder_rejects_bad_inputs(kwargs: dict[str, object], points: torch.Tensor | None, message: str) -> None:
    model = _encoder().eval()
    with pytest.raises(ValueError, match=message):
        model(points if points is not None else _points(9, batch=2), **kwargs)  # type: ignore[arg-type]
    bad = _points(9, batch=2)
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"sample\(s\) 1"):
        model(bad)


def test_config_round_trips_and_rejects_bad_values() -> None:
    config = PointBertConfig.from_dict({**TINY, "mask_ratio": [0.2, 0.5], "fps_start": "fixed"})
    assert config.mask_ratio == (0.2, 0.5)
    assert PointBertConfig.from_dict(config.to_dict()) == config
    assert PointBertConfig().to_dict()["trans_dim"] == 384
    with pytest.raises(ValueError, match=r"unknown PointBertConfig field\(s\) \['width'\]"):
        PointBertConfig.from_dict({"width": 3})
    with pytest.raises(ValueError, match="divisible by num_heads"):
        PointBertConfig(trans_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="in_channels"):
        PointBertConfig(in_channels=4)
    with pytest.raises(ValueError, match="mask_ratio"):
        dataclasses.replace(config, mask_ratio=(0.6, 0.5))


def test_defaults_match_the_paper_tower_and_point_bert_names() -> None:
    model = PointBertEncoder()
    names = dict(model.named_parameters())
    assert sum(p.numel() for p in names.values()) == pytest.approx(21.86e6, rel=1e-3)
    assert names["blocks.blocks.11.attn.qkv.weight"].shape == (1152, 384)
    assert "blocks.blocks.0.attn.qkv.bias" not in names
    assert names["pos_embed.2.weight"].shape == (384, 128)
    assert names["encoder.second_conv.3.weight"].shape == (256, 512, 1)
    rates = [block.drop_path.rate for block in model.blocks.blocks]
    assert rates[0] == 0.0
    assert rates[-1] == pytest.approx(0.1)
    assert rates == sorted(rates)
    assert float(names["blocks.blocks.0.mlp.fc1.weight"].detach().std()) == pytest.approx(0.02, rel=0.05)
    assert float(names["blocks.blocks.0.mlp.fc1.bias"].detach().abs().max()) == 0.0
