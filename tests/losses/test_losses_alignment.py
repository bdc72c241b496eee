"""Symmetric image↔point InfoNCE: hand values, temperature, weights, gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from crossmost_losses import CrossModalAlignmentLoss, cross_modal_infonce


def test_orthonormal_pairs_by_hand() -> None:
    # Logits = I / τ: each row's CE = −log(e^{1/τ} / (e^{1/τ} + 1)) = log(1 + e^{−1/τ}).
    eye = torch.eye(2, dtype=torch.float64)
    assert cross_modal_infonce(eye, eye).item() == pytest.approx(2 * math.log(1 + math.exp(-1)))
    assert cross_modal_infonce(eye, eye, temperature=0.5).item() == pytest.approx(2 * math.log(1 + math.exp(-2)))
    paper = cross_modal_infonce(eye, eye, image_to_point_weight=0.5, point_to_image_weight=0.5)
    assert paper.item() == pytest.approx(math.log(1 + math.exp(-1)))


def test_asymmetric_case_by_hand() -> None:
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    points = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    # image→point logits [[1, .6], [0, .8]]: rows give log(1+e^{−.4}) and log(1+e^{−.8}).
    image_to_point = (math.log(1 + math.exp(-0.4)) + math.log(1 + math.exp(-0.8))) / 2
    # point→image logits [[1, 0], [.6, .8]]: rows give log(1+e^{−1}) and log(1+e^{−.2}).
    point_to_image = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(-0.2))) / 2
    value = cross_modal_infonce(images, points, image_to_point_weight=2.0, point_to_image_weight=0.5)
    assert value.item() == pytest.approx(2.0 * image_to_point + 0.5 * point_to_image)
    only_i2p = cross_modal_infonce(images, points, image_to_point_weight=1.0, point_to_image_weight=0.0)
    assert only_i2p.item() == pytest.approx(image_to_point)


def test_logit_scale_matches_the_temperature_it_inverts() -> None:
    eye = torch.eye(2, dtype=torch.float64)
    scaled = cross_modal_infonce(eye, eye, logit_scale=torch.tensor(2.0, dtype=torch.float64))
    assert scaled.item() == pytest.approx(2 * math.log(1 + math.exp(-2)))
    with pytest.raises(ValueError, match="not both"):
        cross_modal_infonce(eye, eye, temperature=0.5, logit_scale=torch.tensor(2.0))


def test_labels_make_rows_of_one_class_shared_positives() -> None:
    # Rows 0 and 1 share a class: each row's target is ½ on both, so with logits [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    # rows 0 and 1 lose −½·log(e/(e+2)) − ½·log(1/(e+2)) and row 2 loses −log(e/(e+2)), in both directions.
    eye = torch.eye(3, dtype=torch.float64)
    value = cross_modal_infonce(eye, eye, labels=torch.tensor([4, 4, 7]))
    shared = math.log(math.e + 2) - 0.5
    alone = math.log(math.e + 2) - 1.0
    assert value.item() == pytest.approx(2 * (2 * shared + alone) / 3)
    with pytest.raises(ValueError, match="labels must have shape"):
        cross_modal_infonce(eye, eye, labels=torch.tensor([0, 1]))


def test_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(1)
    images = F.normalize(torch.randn(3, 4, dtype=torch.float64, generator=generator), dim=1).requires_grad_(True)
    points = F.normalize(torch.randn(3, 4, dtype=torch.float64, generator=generator), dim=1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: cross_modal_infonce(a, b, temperature=0.3), (images, points))


def test_gather_is_a_no_op_in_one_process() -> None:
    generator = torch.Generator().manual_seed(2)
    images = F.normalize(torch.randn(4, 3, generator=generator), dim=1)
    points = F.normalize(torch.randn(4, 3, generator=generator), dim=1)
    assert torch.equal(cross_modal_infonce(images, points, gather=True), cross_modal_infonce(images, points))


def test_module_and_validation() -> None:
    eye = torch.eye(2)
    loss = CrossModalAlignmentLoss(temperature=0.5)
    assert loss(eye, eye).item() == pytest.approx(2 * math.log(1 + math.exp(-2)), rel=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        CrossModalAlignmentLoss(temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        cross_modal_infonce(eye, torch.eye(3))
