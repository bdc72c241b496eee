"""Masked cross-entropy: hand values, the empty selection, gradients."""

import math

import pytest
import torch

from crossmost_losses import MaskedCrossEntropyLoss, masked_cross_entropy

# Row 0: uniform logits, label 1       → CE = log 3.
# Row 1: probabilities [1/2, 1/4, 1/4], label 0 → CE = log 2.
LOGITS = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]], dtype=torch.float64)
LABELS = torch.tensor([1, 0])


def test_mean_over_kept_samples_by_hand() -> None:
    both = masked_cross_entropy(LOGITS, LABELS, torch.tensor([True, True]))
    first = masked_cross_entropy(LOGITS, LABELS, torch.tensor([True, False]))
    second = masked_cross_entropy(LOGITS, LABELS, torch.tensor([False, True]))
    assert both.item() == pytest.approx((math.log(3) + math.log(2)) / 2)
    assert first.item() == pytest.approx(math.log(3))
    assert second.item() == pytest.approx(math.log(2))


def test_batch_normalisation_divides_by_batch_size() -> None:
    value = masked_cross_entropy(LOGITS, LABELS, torch.tensor([True, False]), normalization="batch")
    assert value.item() == pytest.approx(math.log(3) / 2)


def test_label_smoothing_by_hand() -> None:
    # Row 1 has p = [½, ¼, ¼]; with ε = 0.3 the target is (1 − ε)·onehot(0) + ε/3·(1, 1, 1) = [.8, .1, .1]
    # and CE = −(.8 log ½ + .1 log ¼ + .1 log ¼) = .8 log 2 + .4 log 2 = 1.2 log 2.
    eps = 0.3
    target = [1 - eps + eps / 3, eps / 3, eps / 3]
    expected = -sum(t * math.log(p) for t, p in zip(target, [0.5, 0.25, 0.25], strict=True))
    assert expected == pytest.approx(1.2 * math.log(2))
    value = masked_cross_entropy(LOGITS, LABELS, torch.tensor([False, True]), label_smoothing=eps)
    assert value.item() == pytest.approx(expected)


def test_empty_selection_is_zero_with_finite_gradient() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    value = masked_cross_entropy(logits, LABELS, torch.tensor([False, False]))
    assert value.item() == 0.0
    value.backward()
    assert logits.grad is not None
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_unkept_rows_cannot_poison_the_loss() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0], [math.inf, math.nan, 0.0]], requires_grad=True)
    labels = torch.tensor([1, 99])  # out-of-range label on the unkept row
    value = masked_cross_entropy(logits, labels, torch.tensor([True, False]))
    value.backward()
    assert value.item() == pytest.approx(math.log(3))
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    # d CE / d logits on the kept row = softmax − onehot = (1/3, −2/3, 1/3); zero elsewhere.
    torch.testing.assert_close(logits.grad[0], torch.tensor([1 / 3, -2 / 3, 1 / 3]))
    assert torch.equal(logits.grad[1], torch.zeros(3))


def test_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    labels = torch.tensor([2, 0, 1])
    keep = torch.tensor([True, False, True])
    assert torch.autograd.gradcheck(lambda x: masked_cross_entropy(x, labels, keep), (logits,))
    assert torch.autograd.gradcheck(lambda x: masked_cross_entropy(x, labels, keep, label_smoothing=0.1), (logits,))


def test_module_and_validation() -> None:
    loss = MaskedCrossEntropyLoss()
    assert loss(LOGITS, LABELS, torch.tensor([True, True])).item() == pytest.approx((math.log(3) + math.log(2)) / 2)
    with pytest.raises(ValueError, match="shape"):
        masked_cross_entropy(LOGITS, LABELS[:1], torch.tensor([True, True]))
    with pytest.raises(TypeError, match="bool"):
        masked_cross_entropy(LOGITS, LABELS, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        MaskedCrossEntropyLoss(label_smoothing=1.0)
