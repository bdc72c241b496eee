"""Fairness: hand values, the uniform minimum, log-space stability, gradients."""

import math

import pytest
import torch

from crossmost_losses import FairnessLoss, fairness_loss


def test_value_by_hand() -> None:
    # Row 0 uniform, row 1 probabilities [1/2, 1/4, 1/4]: p̄ = [5/12, 7/24, 7/24].
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.log(0.5), math.log(0.25), math.log(0.25)]], dtype=torch.float64)
    expected = -(math.log(5 / 12) + 2 * math.log(7 / 24)) / 3
    assert fairness_loss(logits).item() == pytest.approx(expected)


def test_uniform_mean_is_the_minimum_log_c() -> None:
    # Each row favours a different class by the same margin, so p̄ is exactly uniform.
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    assert fairness_loss(logits).item() == pytest.approx(math.log(3))
    skewed = torch.tensor([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    assert fairness_loss(skewed).item() > math.log(3)


def test_extreme_logits_stay_finite() -> None:
    # Class 1 and 2 get probability e^{-1000} everywhere: p̄ underflows in linear space, not in log space.
    logits = torch.tensor([[1000.0, 0.0, 0.0], [1000.0, 0.0, 0.0]], requires_grad=True)
    value = fairness_loss(logits)
    value.backward()
    assert value.item() == pytest.approx(2000 / 3, rel=1e-5)  # −(1/3)(log 1 + 2·(−1000))
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0  # the starved classes still receive gradient


def test_gradcheck_float64() -> None:
    logits = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    assert torch.autograd.gradcheck(fairness_loss, (logits,))


def test_module_and_validation() -> None:
    assert FairnessLoss(gather=True)(torch.zeros(2, 4)).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="B×C"):
        fairness_loss(torch.zeros(0, 3))
