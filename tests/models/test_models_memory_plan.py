"""Memory plans on the model: which parameters train, low-rank adapters, activation checkpointing, layer ids."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from crossmost_models import (
    CrossModalModel,
    TrainablePlan,
    add_lora,
    apply_trainable_plan,
    create_model,
    layer_id_fn,
    merge_lora,
    point_tokenizer,
    set_activation_checkpointing,
    set_train_mode,
    vit_layer_id,
)
from crossmost_models.lora import LowRankAdapter
from crossmost_models.parts import tower_layouts

CLASSES = ["chair", "table", "lamp"]


def _model(seed: int = 0) -> CrossModalModel:
    torch.manual_seed(seed)
    return create_model("tiny", classnames=CLASSES, templates="photo")


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    images = torch.randn(batch, 3, 64, 64, generator=g)
    points = F.normalize(torch.randn(batch, 512, 3, generator=g), dim=-1)
    mask = torch.rand(batch, 8, 8, generator=g) < 0.3
    return images, points, mask


def _trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_all_plan_freezes_only_the_tokenizer() -> None:
    model = _model()
    report = apply_trainable_plan(model, TrainablePlan())
    names = {n for n, _ in model.named_parameters()}
    frozen = names - _trainable(model)
    assert frozen == {n for n in names if n.startswith("point_encoder.encoder.")}
    tokenizer = sum(p.numel() for p in point_tokenizer(model).parameters())
    assert report.frozen == tokenizer
    assert report.total == sum(p.numel() for p in model.parameters())
    buffers = tuple(f"point_encoder.encoder.{b}" for b, _ in point_tokenizer(model).named_buffers())
    assert report.constant_buffers == buffers
    set_train_mode(model, TrainablePlan())
    assert model.training
    assert not point_tokenizer(model).training
    set_train_mode(model, TrainablePlan(freeze_tokenizer_batchnorm=False))
    assert point_tokenizer(model).training


def test_last_blocks_trains_the_top_of_each_tower_and_what_follows() -> None:
    model = _model()
    report = apply_trainable_plan(model, TrainablePlan(mode="last_blocks", last_blocks=1))
    trainable = _trainable(model)
    assert report.blocks_trained == {"image_tower": 1, "point_encoder": 1}
    # block 1 (the last of two) trains, block 0 and the stems do not
    assert any(n.startswith("image_tower.visual.transformer.resblocks.1.") for n in trainable)
    assert not any(n.startswith("image_tower.visual.transformer.resblocks.0.") for n in trainable)
    assert not any(n.startswith("point_encoder.blocks.blocks.0.") for n in trainable)
    for stem in (
        "image_tower.visual.conv1.weight",
        "image_tower.mask_token",
        "point_encoder.pos_embed.0.weight",
        "point_encoder.cls_token",
        "point_encoder.mask_token",
        "point_encoder.encoder.first_conv.0.weight",
    ):
        assert stem not in trainable, stem
    for after in (
        "image_tower.visual.proj",
        "image_tower.visual.ln_post.weight",
        "image_tower.decoder.0.weight",
        "point_encoder.norm.weight",
        "point_projection.weight",
        "mpm_head.weight",
        "classifier.weight",
    ):
        assert after in trainable, after
    # more blocks than a tower has: every block trains, the stem still does not
    model = _model()
    report = apply_trainable_plan(model, TrainablePlan(mode="last_blocks", last_blocks=5))
    assert report.blocks_trained == {"image_tower": 2, "point_encoder": 2}
    assert "image_tower.visual.positional_embedding" not in _trainable(model)


def test_last_blocks_backward_keeps_no_gradient_below_the_trained_blocks() -> None:
    model = _model()
    apply_trainable_plan(model, TrainablePlan(mode="last_blocks", last_blocks=1))
    images, points, mask = _inputs()
    model.train()
    out = model(images, points, image_mask=mask, mask_points=True, generator=torch.Generator().manual_seed(0))
    (out.image_logits.sum() + out.point_logits.sum()).backward()  # type: ignore[union-attr]
    for name, param in model.named_parameters():
        if not param.requires_grad:
            assert param.grad is None, name
    assert model.image_tower.visual.transformer.resblocks[1].mlp.c_fc.weight.grad is not None


def test_norms_and_classifier() -> None:
    model = _model()
    report = apply_trainable_plan(model, TrainablePlan(mode="norms_and_classifier"))
    trainable = _trainable(model)
    norm_names = {
        f"{m}.{p}"
        for m, module in model.named_modules()
        if isinstance(module, nn.LayerNorm) and m.startswith(("image_tower.", "point_encoder."))
        for p, _ in module.named_parameters(recurse=False)
    }
    head_prefixes = ("classifier.", "mpm_head.", "point_local_projection.", "image_tower.decoder.",
                     "image_tower.mask_token", "point_encoder.mask_token")  # fmt: skip
    heads = {n for n, _ in model.named_parameters() if n.startswith(head_prefixes)}
    assert trainable == norm_names | heads
    assert "image_tower.ln_patch.weight" in trainable
    assert report.trainable == sum(p.numel() for n, p in model.named_parameters() if n in trainable)


def test_plan_only_narrows() -> None:
    model = _model()
    model.classifier.requires_grad_(False)
    apply_trainable_plan(model, TrainablePlan(mode="norms_and_classifier"))
    assert "classifier.weight" not in _trainable(model)


def test_lora_adapter_with_zero_b_is_exactly_the_base() -> None:
    torch.manual_seed(1)
    linear = nn.Linear(12, 7)
    x = torch.randn(5, 12)
    expected = linear(x)
    assert add_lora(linear, rank=3, alpha=6.0) == 1
    assert add_lora(linear, rank=3, alpha=6.0) == 0  # already adapted
    assert torch.equal(linear(x), expected)
    adapter = linear.parametrizations.weight[0]
    assert adapter.lora_A.shape == (3, 12)
    assert adapter.lora_B.shape == (7, 3)
    assert adapter.scaling == 2.0
    assert not linear.parametrizations.weight.original.requires_grad


def test_lora_on_linear_and_attention_exact_then_merged() -> None:
    torch.manual_seed(1)
    block = nn.ModuleDict({"fc": nn.Linear(12, 7), "attn": nn.MultiheadAttention(12, 3, batch_first=True)})
    x = torch.randn(2, 5, 12)

    def run(m: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return m["fc"](x), m["attn"](x, x, x, need_weights=False)[0]

    base = run(block)
    assert add_lora(block, rank=3, alpha=6.0) == 3  # fc.weight, attn.in_proj_weight, attn.out_proj.weight
    adapted = run(block)
    for a, b in zip(base, adapted, strict=True):
        assert torch.equal(a, b)  # B = 0: exactly the base output
    trainable = _trainable(block)
    assert {n for n in trainable if not n.endswith("bias")} == {
        f"{m}.parametrizations.{w}.0.lora_{f}"
        for m, w in (("fc", "weight"), ("attn", "in_proj_weight"), ("attn.out_proj", "weight"))
        for f in "AB"
    }  # the base weights are frozen, the biases left as they were
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, LowRankAdapter):
                module.lora_B.normal_()
    unmerged = run(block)
    assert not torch.equal(unmerged[0], base[0])
    delta = block["fc"].parametrizations.weight[0]
    expected_fc = F.linear(x, block["fc"].parametrizations.weight.original + 2.0 * delta.lora_B @ delta.lora_A,
                           block["fc"].bias)  # fmt: skip
    torch.testing.assert_close(unmerged[0], expected_fc)
    originals = [p.detach().clone() for n, p in block.named_parameters() if n.endswith("original")]
    shared_base = block["fc"].parametrizations.weight.original
    assert merge_lora(block) == 3
    merged = run(block)
    for a, b in zip(unmerged, merged, strict=True):
        assert torch.equal(a, b)
    assert sorted(n for n, _ in block.named_parameters()) == [
        "attn.in_proj_bias", "attn.in_proj_weight", "attn.out_proj.bias", "attn.out_proj.weight", "fc.bias",
        "fc.weight"]  # fmt: skip
    assert torch.equal(shared_base, originals[0])  # the base weight was not written to


def test_merging_a_copy_leaves_the_other_adapted() -> None:
    """A deep copy (an EMA teacher) shares the parametrized class: merging one must not break the other."""
    torch.manual_seed(2)
    block = nn.ModuleDict({"fc": nn.Linear(6, 4), "attn": nn.MultiheadAttention(6, 2, batch_first=True)})
    add_lora(block, rank=2, alpha=2.0)
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, LowRankAdapter):
                module.lora_B.normal_()
    copy_ = copy.deepcopy(block)
    x = torch.randn(1, 3, 6)
    before = copy_["attn"](x, x, x, need_weights=False)[0]
    assert merge_lora(block) == 3
    assert type(block["attn"]) is nn.MultiheadAttention
    assert torch.equal(copy_["attn"](x, x, x, need_weights=False)[0], before)  # still adapted, still working
    assert merge_lora(copy_) == 3
    assert torch.equal(copy_["attn"](x, x, x, need_weights=False)[0], before)


def test_lora_plan_on_the_model() -> None:
    model = _model()
    images, points, _ = _inputs()
    model.eval()
    with torch.no_grad():
        before = model(images, points)
    report = apply_trainable_plan(model, TrainablePlan(mode="lora", lora_rank=2, lora_alpha=4.0))
    # tiny: 2 image blocks × (in_proj, out_proj, c_fc, c_proj) + 2 point blocks × (qkv, proj, fc1, fc2)
    assert report.adapters == 16
    trainable = _trainable(model)
    assert all(n.endswith(("lora_A", "lora_B")) or n.startswith(("classifier.", "mpm_head.", "point_local_projection.",
               "image_tower.ln_patch.", "image_tower.decoder.", "image_tower.mask_token", "point_encoder.mask_token"))
               for n in trainable)  # fmt: skip
    with torch.no_grad():
        after = model(images, points)
    assert torch.equal(before.image_logits, after.image_logits)  # type: ignore[arg-type]
    assert torch.equal(before.point_logits, after.point_logits)  # type: ignore[arg-type]
    lid = layer_id_fn(model)
    name = "image_tower.visual.transformer.resblocks.1.mlp.c_fc.parametrizations.weight.0.lora_A"
    assert name in trainable
    assert lid(name, 2) == 2


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    # Stochastic depth in the point tower: the recomputed blocks must draw the same paths as the first forward.
    torch.manual_seed(0)
    reference = create_model("tiny", classnames=CLASSES, templates="photo", point={"drop_path_rate": 0.3})
    checkpointed = copy.deepcopy(reference)
    assert set_activation_checkpointing(checkpointed) == 4
    assert set_activation_checkpointing(checkpointed) == 4  # idempotent
    assert [n for n, _ in checkpointed.named_parameters()] == [n for n, _ in reference.named_parameters()]
    images, points, mask = _inputs()
    grads = []
    for model in (reference, checkpointed):
        model.train()
        torch.manual_seed(1)
        out = model(images, points, image_mask=mask, mask_points=True, generator=torch.Generator().manual_seed(0))
        loss = out.image_logits.logsumexp(-1).sum() + out.point_logits.logsumexp(-1).sum()  # type: ignore[union-attr]
        loss = loss + out.image_reconstruction.square().mean() + out.point_token_prediction.square().mean()  # type: ignore[union-attr]
        loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6, msg=name)
    set_activation_checkpointing(checkpointed, False)
    assert "forward" not in vars(checkpointed.image_tower.visual.transformer.resblocks[0])


def test_checkpointing_saves_activation_memory() -> None:
    """Fewer tensors stay saved for backward with checkpointing (counted by the autograd saved-tensor hooks)."""
    images, points, mask = _inputs()

    def saved_bytes(enabled: bool) -> int:
        model = _model()
        set_activation_checkpointing(model, enabled)
        model.train()
        sizes: list[int] = []

        def pack(t: torch.Tensor) -> torch.Tensor:
            sizes.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(images, points, image_mask=mask, mask_points=True, generator=torch.Generator().manual_seed(0))
        return sum(sizes)

    assert saved_bytes(True) < saved_bytes(False)


def test_layer_ids_on_the_model() -> None:
    model = _model()
    lid = layer_id_fn(model)
    for name, _ in model.named_parameters():
        if name.startswith("image_tower."):
            assert lid(name, 2) == vit_layer_id(name, 2)
            assert model.layer_id(name) == vit_layer_id(name, 2)
        else:
            assert lid(name, 2) == 3
    layouts = {t.name: t for t in tower_layouts(model)}
    assert layouts["point"].layer_of("point_encoder.blocks.blocks.1.mlp.fc1.weight") == 2
    assert layouts["point"].layer_of("point_encoder.pos_embed.0.weight") == 0
    assert layouts["point"].layer_of("point_encoder.norm.weight") == 3
    assert layouts["image"].layer_of("classifier.weight") is None


def test_plan_errors() -> None:
    with pytest.raises(ValueError, match="trainable mode"):
        TrainablePlan(mode="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="last_blocks"):
        TrainablePlan(mode="last_blocks", last_blocks=0)
    with pytest.raises(TypeError, match="blocks are not known"):
        apply_trainable_plan(nn.ModuleDict({"image_tower": nn.Linear(2, 2)}), TrainablePlan(mode="lora"))


@pytest.mark.filterwarnings("ignore:the image tower of:UserWarning")
@pytest.mark.parametrize(
    ("name", "image_blocks", "point_blocks"),
    [
        ("openshape-tiny", "image_tower.visual.transformer.resblocks", "point_encoder.blocks.blocks"),
        ("uni3d-tiny", "image_tower.visual.trunk.blocks", "point_encoder.blocks"),
    ],
)
def test_every_plan_reaches_the_blocks_of_the_other_families(name: str, image_blocks: str, point_blocks: str) -> None:
    def build() -> CrossModalModel:
        torch.manual_seed(0)
        return create_model(name, classnames=CLASSES, templates="photo")

    model = build()
    depths = {t.prefix: t.depth for t in tower_layouts(model)}
    apply_trainable_plan(model, TrainablePlan(mode="last_blocks", last_blocks=1))
    trainable = _trainable(model)
    for prefix, tower in ((image_blocks, "image_tower"), (point_blocks, "point_encoder")):
        last = depths[tower] - 1
        assert any(n.startswith(f"{prefix}.{last}.") for n in trainable), prefix
        assert not any(n.startswith(f"{prefix}.{k}.") for k in range(last) for n in trainable), prefix
    assert "point_encoder.cls_token" not in trainable  # the stem stays frozen
    assert "classifier.weight" in trainable

    images = torch.randn(2, 3, *model.image_size, generator=torch.Generator().manual_seed(1))
    points = F.normalize(torch.randn(2, 512, 3, generator=torch.Generator().manual_seed(2)), dim=-1)
    model = build().eval()
    with torch.no_grad():
        before = model(images, points)
    report = apply_trainable_plan(model, TrainablePlan(mode="lora", lora_rank=2, lora_alpha=4.0))
    assert report.adapters > 0
    assert any(n.startswith(point_blocks) and n.endswith("lora_A") for n in _trainable(model))
    assert any(n.startswith(image_blocks) and n.endswith("lora_A") for n in _trainable(model))
    with torch.no_grad():
        after = model(images, points)
    assert torch.equal(before.image_logits, after.image_logits)  # type: ignore[arg-type]
    assert torch.equal(before.point_logits, after.point_logits)  # type: ignore[arg-type]

    reference, checkpointed = build(), build()
    assert set_activation_checkpointing(checkpointed) == sum(depths.values())
    grads = []
    for candidate in (reference, checkpointed):
        candidate.train()
        out = candidate(images, points, generator=torch.Generator().manual_seed(0))
        loss = out.image_logits.logsumexp(-1).sum() + out.point_logits.logsumexp(-1).sum()  # type: ignore[union-attr]
        loss.backward()
        grads.append({n: p.grad for n, p in candidate.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], rtol=1e-5, atol=1e-6, msg=key)
