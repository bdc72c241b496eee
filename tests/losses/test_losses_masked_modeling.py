"""MIM and MPM: true per-element means on hand-built tensors, empty masks, detached targets, gradients."""

import pytest
import torch

from crossmost_losses import (
    MaskedImageModelingLoss,
    MaskedPointModelingLoss,
    masked_image_modeling_loss,
    masked_point_modeling_loss,
)


def _mim_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # One 3×4×4 image, a 2×2 patch grid (2×2 pixels per patch), only the top-left patch masked.
    # Target: channel c holds c + 1 inside the masked patch, except pixel (0, 0) of channel 0 which holds 13;
    # 100 everywhere outside it (must be ignored). Reconstruction: zeros.
    target = torch.full((1, 3, 4, 4), 100.0, dtype=torch.float64)
    for channel in range(3):
        target[0, channel, :2, :2] = channel + 1
    target[0, 0, 0, 0] = 13.0
    mask = torch.tensor([[[True, False], [False, False]]])
    return torch.zeros_like(target), target, mask


def test_mim_true_per_element_mean_by_hand() -> None:
    reconstruction, target, mask = _mim_case()
    # |0 − target| over 4 pixels × 3 channels: (13 + 1 + 1 + 1) + 4·2 + 4·3 = 36, divided by 12 → 3.
    # (The official code would give 36 / 4 / 197.)
    assert masked_image_modeling_loss(reconstruction, target, mask).item() == pytest.approx(3.0)


def test_mim_counts_masked_pixels_over_the_whole_batch() -> None:
    reconstruction, target, mask = _mim_case()
    second_target = torch.zeros_like(target)
    second_target[0, :, 2:, 2:] = 0.5  # bottom-right patch of sample 2, all channels: 12 elements of 0.5
    second_mask = torch.tensor([[[False, False], [False, True]]])
    value = masked_image_modeling_loss(
        torch.cat([reconstruction, reconstruction]), torch.cat([target, second_target]), torch.cat([mask, second_mask])
    )
    assert value.item() == pytest.approx((36 + 12 * 0.5) / 24)


def test_mim_empty_mask_is_zero_with_finite_gradient() -> None:
    reconstruction, target, _ = _mim_case()
    reconstruction.requires_grad_(True)
    value = masked_image_modeling_loss(reconstruction, target, torch.zeros(1, 2, 2, dtype=torch.bool))
    value.backward()
    assert value.item() == 0.0
    assert reconstruction.grad is not None
    assert torch.equal(reconstruction.grad, torch.zeros_like(reconstruction))


def test_mim_gradient_goes_to_the_reconstruction_only() -> None:
    reconstruction, target, mask = _mim_case()
    reconstruction.requires_grad_(True)
    target.requires_grad_(True)
    masked_image_modeling_loss(reconstruction, target, mask).backward()
    assert target.grad is None
    assert reconstruction.grad is not None
    # d/dx mean|x − t| = sign(x − t)/12 = −1/12 inside the masked patch, 0 outside.
    expected = torch.zeros_like(reconstruction)
    expected[0, :, :2, :2] = -1 / 12
    torch.testing.assert_close(reconstruction.grad, expected)


def test_mim_gradcheck_away_from_kinks() -> None:
    generator = torch.Generator().manual_seed(4)
    reconstruction = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    target = reconstruction.detach() + 0.5 * torch.sign(
        torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=generator)
    )
    mask = torch.tensor([[[True, False], [False, True]], [[False, True], [False, False]]])
    assert torch.autograd.gradcheck(lambda x: masked_image_modeling_loss(x, target, mask), (reconstruction,))


def test_mim_validation() -> None:
    reconstruction, target, _ = _mim_case()
    with pytest.raises(ValueError, match="not a multiple"):
        masked_image_modeling_loss(reconstruction, target, torch.zeros(1, 3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        masked_image_modeling_loss(reconstruction, target, torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="same shape"):
        masked_image_modeling_loss(reconstruction, target[:, :2], torch.zeros(1, 2, 2, dtype=torch.bool))
    reconstruction, target, mask = _mim_case()
    assert MaskedImageModelingLoss()(reconstruction, target, mask).item() == pytest.approx(3.0)


def _mpm_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # B = 2, G = 3 groups, W = 2 channels. Masked: (0, 0), (1, 1), (1, 2).
    target = torch.full((2, 3, 2), 100.0, dtype=torch.float64)
    target[0, 0] = torch.tensor([1.0, 2.0])
    target[1, 1] = torch.tensor([3.0, 4.0])
    target[1, 2] = torch.tensor([5.0, 6.0])
    mask = torch.tensor([[True, False, False], [False, True, True]])
    return torch.zeros_like(target), target, mask


def test_mpm_per_element_mean_by_hand() -> None:
    prediction, target, mask = _mpm_case()
    # (1 + 2 + 3 + 4 + 5 + 6) / (3 groups × 2 channels) = 21 / 6.
    assert masked_point_modeling_loss(prediction, target, mask).item() == pytest.approx(3.5)
    assert MaskedPointModelingLoss()(prediction, target, mask).item() == pytest.approx(3.5)


def test_mpm_target_is_detached_and_empty_mask_is_zero() -> None:
    prediction, target, mask = _mpm_case()
    prediction.requires_grad_(True)
    target.requires_grad_(True)
    masked_point_modeling_loss(prediction, target, mask).backward()
    assert target.grad is None
    assert prediction.grad is not None
    assert prediction.grad[0, 0].tolist() == pytest.approx([-1 / 6, -1 / 6])
    assert prediction.grad[0, 1].tolist() == [0.0, 0.0]
    empty_prediction = torch.zeros(2, 3, 2, requires_grad=True)
    value = masked_point_modeling_loss(empty_prediction, target.float(), torch.zeros(2, 3, dtype=torch.bool))
    value.backward()
    assert value.item() == 0.0
    assert empty_prediction.grad is not None
    assert torch.equal(empty_prediction.grad, torch.zeros(2, 3, 2))


def test_mpm_gradcheck_away_from_kinks() -> None:
    generator = torch.Generator().manual_seed(5)
    prediction = torch.randn(2, 3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    target = prediction.detach() + 0.5
    mask = torch.tensor([[True, False, True], [False, True, False]])
    assert torch.autograd.gradcheck(lambda x: masked_point_modeling_loss(x, target, mask), (prediction,))


def test_mpm_validation() -> None:
    prediction, target, _ = _mpm_case()
    with pytest.raises(ValueError, match="shape"):
        masked_point_modeling_loss(prediction, target, torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same shape"):
        masked_point_modeling_loss(prediction, target[:, :, :1], torch.zeros(2, 3, dtype=torch.bool))
