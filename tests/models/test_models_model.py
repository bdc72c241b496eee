"""CrossModalModel: teacher/student/single-modality outputs, encoders, initialisation and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from crossmost_models import CrossModalModel, create_model, vit_layer_id

CLASSES = ["night_stand", "flower_pot", "chair"]


@pytest.fixture(scope="module")
def model() -> CrossModalModel:
    torch.manual_seed(0)
    return create_model("tiny", classnames=CLASSES, templates="photo")


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    images = torch.randn(batch, 3, 64, 64, generator=g)
    points = F.normalize(torch.randn(batch, 512, 3, generator=g), dim=-1)
    mask = torch.rand(batch, 8, 8, generator=g) < 0.3
    return images, points, mask


def test_teacher_path(model: CrossModalModel) -> None:
    images, points, _ = _inputs()
    model.eval()
    with torch.no_grad():
        out = model(images, points)
    assert out.present() == ["image_embedding", "point_embedding", "image_logits", "point_logits"]
    assert not out.is_student
    assert out.image_embedding is not None
    assert out.point_embedding is not None
    torch.testing.assert_close(out.image_embedding.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(out.point_embedding.norm(dim=-1), torch.ones(2))
    cosine = out.image_embedding @ F.normalize(model.classifier.weight, dim=0)
    scaled = 100.0 * out.image_embedding @ model.classifier.weight
    assert out.image_logits is not None
    torch.testing.assert_close(out.image_logits, scaled)  # columns start at unit norm, so this is 100·cosine
    torch.testing.assert_close(out.image_logits, 100.0 * cosine, atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(images), out.image_embedding)
        torch.testing.assert_close(model.encode_points(points), out.point_embedding)
        torch.testing.assert_close(model.classify(out.point_embedding), out.point_logits)


def test_student_path(model: CrossModalModel) -> None:
    images, points, mask = _inputs()
    model.train()
    out = model(images, points, image_mask=mask, mask_points=True, generator=torch.Generator().manual_seed(0))
    assert out.is_student
    assert len(out.present()) == 13
    assert out.image_patch_mask is mask
    assert out.image_target is images
    assert out.image_reconstruction is not None
    assert out.image_reconstruction.shape == images.shape
    assert out.image_local_embedding is not None
    assert out.image_local_embedding.shape == (2, 64, 32)
    torch.testing.assert_close(out.image_local_embedding.norm(dim=-1), torch.ones(2, 64))
    assert out.point_group_mask is not None
    assert out.point_group_mask.shape == (2, 16)
    masked_groups = out.point_group_mask.sum(dim=1)
    assert bool(((masked_groups >= 4) & (masked_groups <= 6)).all())  # int(U(0.3, 0.4) · 16)
    assert out.point_token_target is not None
    assert not out.point_token_target.requires_grad
    assert out.point_token_prediction is not None
    assert out.point_token_prediction.shape == (2, 16, 64)
    assert out.point_local_embedding is not None
    assert out.point_local_embedding.shape == (2, 16, 32)
    assert out.point_cls_embedding is not None
    assert out.point_cls_embedding.shape == (2, 32)
    total = sum(
        t.float().sum()
        for t in (
            out.image_reconstruction,
            out.image_local_embedding,
            out.point_token_prediction,
            out.point_local_embedding,
            out.point_logits,
        )
    )
    model.zero_grad()
    total.backward()
    for name in (
        "image_tower.mask_token",
        "image_tower.decoder.0.weight",
        "mpm_head.weight",
        "point_local_projection.weight",
        "point_projection.weight",
        "point_encoder.mask_token",
    ):
        grad = model.get_parameter(name).grad
        assert grad is not None, name
        assert grad.abs().sum() > 0, name
    model.zero_grad()


def test_single_modality_paths(model: CrossModalModel) -> None:
    images, points, mask = _inputs()
    with torch.no_grad():
        image_only = model(images, None, image_mask=mask)
        point_only = model(None, points)
    assert image_only.point_embedding is None
    assert image_only.point_logits is None
    assert image_only.image_reconstruction is not None
    assert image_only.point_group_mask is None
    assert point_only.present() == ["point_embedding", "point_logits"]


def test_model_structure_and_initialisation(model: CrossModalModel) -> None:
    names = [name for name, _ in model.named_parameters()]
    assert not any("token_embedding" in n or "text" in n or "ln_final" in n for n in names)  # text tower dropped
    assert model.num_classes == 3
    assert model.classnames == CLASSES
    assert model.image_num_layers == 2
    assert model.patch_grid == (8, 8)
    assert model.num_groups == 16
    assert model.point_projection.bias is None
    assert model.point_local_projection.bias is None
    torch.manual_seed(1)
    fresh = create_model("vit-b16-pointbert", classnames=["a", "b"], templates="photo")
    std = fresh.point_projection.weight.std().item()
    assert fresh.point_projection.weight.shape == (512, 768)
    assert abs(std - 512**-0.5) < 0.05 * 512**-0.5
    assert fresh.image_tower.visual.proj.shape == (768, 512)
    layer_ids = {
        vit_layer_id(n, model.image_num_layers) for n, _ in model.image_tower.named_parameters(prefix="image_tower")
    }
    assert layer_ids == {0, 1, 2, 3}


def test_bad_input_is_refused(model: CrossModalModel) -> None:
    images, points, mask = _inputs()
    with pytest.raises(ValueError, match="neither"):
        model(None, None)
    with pytest.raises(ValueError, match="image_mask was given without images"):
        model(None, points, image_mask=mask)
    with pytest.raises(ValueError, match="mask_points=True was given without points"):
        model(images, None, mask_points=True)
    with pytest.raises(ValueError, match="different batch sizes"):
        model(images[:1], points)
    bad = points.clone()
    bad[1, 7, 2] = float("nan")
    with pytest.raises(ValueError, match=r"sample\(s\) 1 "):
        model(images, bad)
    with pytest.raises(ValueError, match="at least"):
        model(images, points[:, :8])
    with pytest.raises(ValueError, match="transpose"):
        model(images, points.transpose(1, 2).contiguous())
    with pytest.raises(ValueError, match="expects 64×64"):
        model(torch.zeros(2, 3, 32, 32), points)
    with pytest.raises(ValueError, match=r"B×3×H×W"):
        model(torch.zeros(2, 1, 64, 64), points)


def test_point_global_local_alignment_uses_one_projection_on_both_sides() -> None:
    from crossmost_losses import CrossMoSTObjective, ObjectiveConfig

    torch.manual_seed(0)
    model = create_model("tiny", classnames=CLASSES, templates="photo").eval()
    images, points, mask = _inputs(4)
    objective = CrossMoSTObjective(ObjectiveConfig(threshold=0.0))

    def run() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            out = model(images, points, image_mask=mask, mask_points=True, generator=torch.Generator().manual_seed(5))
            encoded = model.point_encoder(points, mask_groups=True, generator=torch.Generator().manual_seed(5))
            term = objective(out, out).terms["global_local_point"]
        assert out.point_cls_embedding is not None
        return out.point_cls_embedding, F.normalize(model.point_local_projection(encoded.cls_token), dim=-1), term

    cls_embedding, expected, term = run()
    torch.testing.assert_close(cls_embedding, expected)
    with torch.no_grad():
        model.point_projection.weight.normal_()  # f^P is not part of the point global-local alignment
    _, _, unchanged = run()
    torch.testing.assert_close(unchanged, term)


def test_reset_point_branch_keeps_only_the_tokenizer() -> None:
    torch.manual_seed(0)
    model = create_model("tiny", classnames=["a", "b"], templates="photo")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    model.reset_point_branch()
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith(("image_tower.", "classifier.", "point_encoder.encoder.")):
            assert torch.equal(after[key], value), key  # the image side and the tokenizer are kept
        elif key.endswith(("weight", "token", "cls_pos")) and "norm" not in key:
            assert not torch.equal(after[key], value), key  # every other learned tensor is drawn again
    torch.manual_seed(1)
    again = create_model("tiny", classnames=["a", "b"], templates="photo")
    again.load_state_dict(before)
    torch.manual_seed(1)
    again.reset_point_branch()
    for key, value in again.state_dict().items():
        assert torch.equal(after[key], value), key  # seeded: the same draw
