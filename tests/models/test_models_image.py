"""The maskable open_clip image tower: equivalence with open_clip, masking semantics, decoder layout, refusals."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from crossmost_models.clip import import_open_clip
from crossmost_models.image import MaskableVisionTower, vit_layer_id


def _visual(name: str, **kwargs: Any) -> torch.nn.Module:
    open_clip = import_open_clip()
    torch.manual_seed(0)
    return open_clip.create_model(name, pretrained=None, **kwargs).visual.eval()


@pytest.fixture(scope="module")
def tiny_tower() -> MaskableVisionTower:
    torch.manual_seed(0)
    return MaskableVisionTower(_visual("crossmost-tiny-clip")).eval()


def _image(tower: MaskableVisionTower, batch: int = 1, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, *tower.image_size, generator=generator)


def _assert_matches_open_clip(tower: MaskableVisionTower) -> None:
    images = _image(tower)
    with torch.no_grad():
        reference = tower.visual(images)
        no_mask = tower(images).embedding
        all_false = torch.zeros(1, *tower.grid_size, dtype=torch.bool)
        masked_nothing = tower(images, all_false).embedding
    torch.testing.assert_close(no_mask, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked_nothing, reference, atol=1e-5, rtol=1e-5)


def test_tiny_tower_equals_open_clip_forward(tiny_tower: MaskableVisionTower) -> None:
    _assert_matches_open_clip(tiny_tower)


@pytest.mark.parametrize("name", ["ViT-B-16", "ViT-B-32"])
def test_base_towers_equal_open_clip_forward(name: str) -> None:
    tower = MaskableVisionTower(_visual(name)).eval()
    assert tower.embed_dim == 512
    assert tower.width == 768
    assert tower.num_layers == 12
    _assert_matches_open_clip(tower)


@pytest.mark.slow
def test_vit_l14_tower_equals_open_clip_forward() -> None:
    tower = MaskableVisionTower(_visual("ViT-L-14")).eval()
    assert tower.embed_dim == 768
    assert tower.width == 1024
    assert tower.grid_size == (16, 16)
    _assert_matches_open_clip(tower)


@pytest.mark.parametrize(("pool_type", "final_ln_after_pool"), [("avg", False), ("avg", True), ("tok", True)])
def test_pooling_variants_equal_open_clip(pool_type: str, final_ln_after_pool: bool) -> None:
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(0)
    visual = VisionTransformer(
        image_size=32,
        patch_size=8,
        width=32,
        layers=1,
        heads=2,
        mlp_ratio=2.0,
        output_dim=16,
        pool_type=pool_type,
        final_ln_after_pool=final_ln_after_pool,
    ).eval()
    tower = MaskableVisionTower(visual).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(tower(images).embedding, visual(images), atol=1e-5, rtol=1e-5)


def test_masked_patches_carry_mask_token_plus_their_position(tiny_tower: MaskableVisionTower) -> None:
    images = _image(tiny_tower, batch=2)
    mask = torch.zeros(2, *tiny_tower.grid_size, dtype=torch.bool)
    mask[0, 0, 1] = True  # flat patch index 1 of sample 0
    mask[1, 3, 2] = True  # flat patch index 3·8 + 2 of sample 1
    visual = tiny_tower.visual
    with torch.no_grad():
        plain = tiny_tower.embed_tokens(images)
        masked = tiny_tower.embed_tokens(images, mask)
        expected_0 = visual.ln_pre(tiny_tower.mask_token + visual.positional_embedding[1 + 1])
        expected_1 = visual.ln_pre(tiny_tower.mask_token + visual.positional_embedding[1 + 26])
    torch.testing.assert_close(masked[0, 2], expected_0)
    torch.testing.assert_close(masked[1, 27], expected_1)
    changed = (masked - plain).abs().amax(dim=-1) > 0
    assert changed.nonzero().tolist() == [[0, 2], [1, 27]]  # class token and every other patch untouched


def test_patch_outputs_and_projection(tiny_tower: MaskableVisionTower) -> None:
    images = _image(tiny_tower, batch=2)
    mask = torch.rand(2, *tiny_tower.grid_size, generator=torch.Generator().manual_seed(0)) < 0.3
    with torch.no_grad():
        out = tiny_tower(images, mask)
        tokens = tiny_tower.visual.transformer(tiny_tower.embed_tokens(images, mask))
    h, w = tiny_tower.grid_size
    assert out.reconstruction is not None
    assert out.local_embedding is not None
    assert out.patch_tokens is not None
    assert out.reconstruction.shape == images.shape
    assert out.local_embedding.shape == (2, h * w, tiny_tower.embed_dim)
    torch.testing.assert_close(out.patch_tokens, tiny_tower.ln_patch(tokens[:, 1:]))
    torch.testing.assert_close(out.local_embedding, out.patch_tokens @ tiny_tower.visual.proj)
    torch.testing.assert_close(out.embedding, tiny_tower.visual.ln_post(tokens[:, 0]) @ tiny_tower.visual.proj)
    torch.testing.assert_close(tiny_tower.encode(images, mask), F.normalize(out.embedding, dim=-1))
    assert tiny_tower(images).reconstruction is None  # teacher path computes no patch outputs


def test_decoder_pixel_layout_known_answer(tiny_tower: MaskableVisionTower) -> None:
    # With a zero 1×1 conv and bias b, pixel (y, x) of channel c reads b[c·p² + (y mod p)·p + (x mod p)].
    p = tiny_tower.patch_size
    conv = tiny_tower.decoder[0]
    saved = {k: v.clone() for k, v in conv.state_dict().items()}
    try:
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.copy_(torch.arange(3 * p * p, dtype=torch.float32))
            rec = tiny_tower(_image(tiny_tower), return_patches=True).reconstruction
        assert rec is not None
        for c, y, x in [(0, 0, 0), (1, 3, 5), (2, 17, 62), (0, 63, 9)]:
            assert rec[0, c, y, x].item() == c * p * p + (y % p) * p + (x % p)
    finally:
        conv.load_state_dict(saved)


def test_mask_token_receives_gradient_only_when_used(tiny_tower: MaskableVisionTower) -> None:
    images = _image(tiny_tower)
    mask = torch.zeros(1, *tiny_tower.grid_size, dtype=torch.bool)
    tiny_tower.zero_grad()
    tiny_tower(images, mask).embedding.sum().backward()
    assert tiny_tower.mask_token.grad is None or tiny_tower.mask_token.grad.abs().sum() == 0
    mask[0, 2, 2] = True
    tiny_tower.zero_grad()
    tiny_tower(images, mask).embedding.sum().backward()
    assert tiny_tower.mask_token.grad is not None
    assert tiny_tower.mask_token.grad.abs().sum() > 0
    tiny_tower.zero_grad()


def test_mask_token_init_std() -> None:
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(0)
    visual = VisionTransformer(image_size=32, patch_size=8, width=1024, layers=1, heads=8, mlp_ratio=1.0)
    tower = MaskableVisionTower(visual, mask_token_std=0.02)
    assert tower.mask_token.shape == (1024,)
    assert 0.018 < tower.mask_token.std().item() < 0.022
    assert abs(tower.mask_token.mean().item()) < 0.003


def test_bad_images_and_masks_are_refused(tiny_tower: MaskableVisionTower) -> None:
    with pytest.raises(ValueError, match="expects 64×64"):
        tiny_tower(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"B×3×H×W"):
        tiny_tower(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="floating-point"):
        tiny_tower(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"B×h×w = \(1, 8, 8\)"):
        tiny_tower(torch.zeros(1, 3, 64, 64), torch.zeros(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        tiny_tower(torch.zeros(1, 3, 64, 64), torch.zeros(1, 8, 8))


def test_unmaskable_towers_are_refused() -> None:
    from open_clip.transformer import VisionTransformer

    common: dict[str, Any] = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "heads": 2, "mlp_ratio": 2.0}
    with pytest.raises(ValueError, match="attentional pooler"):
        MaskableVisionTower(VisionTransformer(**common, attentional_pool=True, attn_pooler_heads=2, output_dim=16))
    with pytest.raises(ValueError, match="patch dropout"):
        MaskableVisionTower(VisionTransformer(**common, patch_dropout=0.5, output_dim=16))
    with pytest.raises(ValueError, match="pool_type"):
        MaskableVisionTower(VisionTransformer(**common, pool_type="none", output_dim=16))
    with pytest.raises(TypeError, match="VisionTransformer"):
        MaskableVisionTower(torch.nn.Linear(3, 3))  # type: ignore[arg-type]


def test_vit_layer_ids(tiny_tower: MaskableVisionTower) -> None:
    n = tiny_tower.num_layers
    assert n == 2
    assert vit_layer_id("image_tower.visual.conv1.weight", n) == 0
    assert vit_layer_id("visual.class_embedding", n) == 0
    assert vit_layer_id("visual.positional_embedding", n) == 0
    assert vit_layer_id("visual.ln_pre.bias", n) == 0
    assert vit_layer_id("image_tower.mask_token", n) == 0
    assert vit_layer_id("visual.transformer.resblocks.0.attn.in_proj_weight", n) == 1
    assert vit_layer_id("image_tower.visual.transformer.resblocks.1.mlp.c_fc.bias", n) == 2
    assert vit_layer_id("visual.ln_post.weight", n) == 3
    assert vit_layer_id("visual.proj", n) == 3
    assert vit_layer_id("decoder.0.weight", n) == 3
    assert vit_layer_id("ln_patch.weight", n) == 3
    ids = {name: vit_layer_id(name, n) for name, _ in tiny_tower.named_parameters()}
    assert set(ids.values()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="block 5"):
        vit_layer_id("visual.transformer.resblocks.5.ln_1.weight", n)
