"""Parameter groups (layer decay, no decay on 1-D), batch-scaled lr and the warm-up + cosine schedule."""

import math

import pytest
import torch
from torch import nn

from crossmost_train.optim import WarmupCosine, build_adamw, build_param_groups, build_scheduler, scaled_learning_rate


class FakeModel(nn.Module):
    """Names shaped like an image tower with 2 blocks, a point tower with a frozen tokenizer, and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.ModuleDict(
            {"conv1": nn.Conv2d(3, 4, 2), "blocks": nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])}
        )
        self.tokenizer = nn.Linear(3, 4)
        self.tokenizer.requires_grad_(False)
        self.classifier = nn.Parameter(torch.randn(4, 5))
        self.logit_scale = nn.Parameter(torch.tensor(4.6))


def layer_id(name: str, num_layers: int) -> int:
    if name.startswith("image.conv1"):
        return 0
    if name.startswith("image.blocks."):
        return int(name.split(".")[2]) + 1
    return num_layers + 1


def test_groups_scales_decay_and_frozen_exclusion() -> None:
    model = FakeModel()
    groups = build_param_groups(model, weight_decay=0.05, layer_decay=0.5, num_layers=2, layer_id=layer_id)
    by_name = {n: g for g in groups for n in g["param_names"]}
    assert "tokenizer.weight" not in by_name
    assert "tokenizer.bias" not in by_name
    assert by_name["image.conv1.weight"]["lr_scale"] == 0.5**3
    assert by_name["image.blocks.0.weight"]["lr_scale"] == 0.5**2
    assert by_name["image.blocks.1.weight"]["lr_scale"] == 0.5
    assert by_name["classifier"]["lr_scale"] == 1.0
    assert by_name["image.blocks.0.bias"]["weight_decay"] == 0.0
    assert by_name["image.blocks.0.weight"]["weight_decay"] == 0.05
    assert by_name["logit_scale"]["weight_decay"] == 0.0
    decayed = build_param_groups(
        model, weight_decay=0.05, layer_decay=0.5, num_layers=2, layer_id=layer_id, decay_zero_dim=True
    )
    assert {n: g for g in decayed for n in g["param_names"]}["logit_scale"]["weight_decay"] == 0.05
    total = sum(len(g["params"]) for g in groups)
    assert total == sum(1 for p in model.parameters() if p.requires_grad)


def test_lr_scales_from_declared_global_batch() -> None:
    assert scaled_learning_rate(2e-5, 512) == pytest.approx(4e-5)
    assert scaled_learning_rate(2e-5, 256) == pytest.approx(2e-5)


def test_warmup_cosine_values() -> None:
    fn = WarmupCosine(warmup_steps=4, total_steps=14, floor=0.1)
    assert [fn(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert fn(4) == pytest.approx(1.0)
    assert fn(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert fn(14) == pytest.approx(0.1)
    assert fn(100) == pytest.approx(0.1)


def test_scheduler_applies_layer_scale_times_schedule() -> None:
    model = FakeModel()
    groups = build_param_groups(model, weight_decay=0.05, layer_decay=0.5, num_layers=2, layer_id=layer_id)
    opt = build_adamw(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True, device=torch.device("cpu"))
    sched = build_scheduler(opt, warmup_steps=2, total_steps=10, lr=1e-3, min_lr=1e-5)
    scales = [g["lr_scale"] for g in opt.param_groups]
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3 * 0.5 * s for s in scales])
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3 * s for s in scales])
    for _ in range(20):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-5 * s for s in scales])
