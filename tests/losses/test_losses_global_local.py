"""Global–local alignment: 2 − 2cos by hand, masks, gradient paths, gradcheck."""

import math

import pytest
import torch

from crossmost_losses import GlobalLocalAlignmentLoss, global_local_alignment_loss


def test_values_by_hand() -> None:
    global_embedding = torch.tensor([[2.0, 0.0]], dtype=torch.float64)  # normalises to (1, 0)
    # Local entries normalise to (0, 1), (1, 0) and (1, 1)/√2: distances 2, 0 and 2 − √2.
    local = torch.tensor([[[0.0, 3.0], [5.0, 0.0], [1.0, 1.0]]], dtype=torch.float64)
    all_masked = torch.tensor([[True, True, True]])
    assert global_local_alignment_loss(local, global_embedding, all_masked).item() == pytest.approx(
        (2 + 0 + 2 - math.sqrt(2)) / 3
    )
    assert global_local_alignment_loss(local, global_embedding, torch.tensor([[True, False, False]])).item() == (
        pytest.approx(2.0)
    )


def test_global_is_broadcast_per_sample_and_mask_pooled_over_the_batch() -> None:
    global_embedding = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    local = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [-1.0, 0.0]]], dtype=torch.float64)
    # Sample 0 entry 0: (0,1) vs (1,0) → 2. Sample 1 entries: (0,1) vs (0,1) → 0, (−1,0) vs (0,1) → 2.
    mask = torch.tensor([[True, False], [True, True]])
    assert global_local_alignment_loss(local, global_embedding, mask).item() == pytest.approx(4 / 3)


def test_patch_grid_mask_is_flattened_row_major() -> None:
    global_embedding = torch.tensor([[1.0, 0.0]])
    local = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])
    grid = torch.tensor([[[False, True], [False, False]]])  # entry 1 of the flattened 2×2 grid
    assert global_local_alignment_loss(local, global_embedding, grid).item() == pytest.approx(2.0)


def test_gradient_reaches_both_sides_unless_global_is_detached() -> None:
    generator = torch.Generator().manual_seed(6)
    local = torch.randn(2, 3, 4, generator=generator, requires_grad=True)
    global_embedding = torch.randn(2, 4, generator=generator, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, True, False]])
    global_local_alignment_loss(local, global_embedding, mask).backward()
    assert global_embedding.grad is not None
    assert global_embedding.grad.abs().sum() > 0
    assert local.grad is not None
    assert local.grad[0, 1].abs().sum() == 0
    detached_global = global_embedding.detach().clone().requires_grad_(True)
    GlobalLocalAlignmentLoss(detach_global=True)(local, detached_global, mask).backward()
    assert detached_global.grad is None


def test_empty_mask_and_gradcheck() -> None:
    generator = torch.Generator().manual_seed(7)
    local = torch.randn(2, 3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    global_embedding = torch.randn(2, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    empty = global_local_alignment_loss(local, global_embedding, torch.zeros(2, 3, dtype=torch.bool))
    empty.backward()
    assert empty.item() == 0.0
    assert local.grad is not None
    assert torch.equal(local.grad, torch.zeros_like(local))
    mask = torch.tensor([[True, False, True], [True, True, False]])
    assert torch.autograd.gradcheck(lambda a, b: global_local_alignment_loss(a, b, mask), (local, global_embedding))


def test_validation() -> None:
    with pytest.raises(ValueError, match="global_embedding must have shape"):
        global_local_alignment_loss(torch.zeros(2, 3, 4), torch.zeros(2, 5), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        global_local_alignment_loss(torch.zeros(2, 3, 4), torch.zeros(2, 4), torch.ones(2, 2, dtype=torch.bool))
