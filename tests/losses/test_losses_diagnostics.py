"""Diagnostics: every key on a batch whose values are worked out by hand."""

import math

import pytest
import torch

from crossmost_losses import (
    class_biasedness,
    diagnostics_to_floats,
    mean_prediction_entropy,
    pseudo_label_diagnostics,
    select_pseudo_labels,
)

# The batch of test_losses_pseudo_labels (C = 3); joint selection at 0.84 with the 0.9 point scale gives
# labels [1, 0, 1, 2, 0], kept [T, T, F, F, F], sources [image, point, image, image, image].
IMAGE_PROBS = [[0.05, 0.85, 0.10], [0.30, 0.60, 0.10], [0.20, 0.70, 0.10], [0.10, 0.10, 0.80], [0.50, 0.30, 0.20]]
POINT_PROBS = [[0.03, 0.04, 0.93], [0.96, 0.02, 0.02], [0.10, 0.20, 0.70], [0.15, 0.15, 0.70], [0.40, 0.30, 0.30]]
IMAGE_LOGITS = torch.tensor(IMAGE_PROBS, dtype=torch.float64).log()
POINT_LOGITS = torch.tensor(POINT_PROBS, dtype=torch.float64).log()
LABELS = torch.tensor([1, 2, -1, 2, 0])


def _entropy(rows: list[list[float]]) -> float:
    return sum(-sum(p * math.log(p) for p in row) for row in rows) / len(rows)


def test_every_key_by_hand() -> None:
    selection = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, threshold=0.84, point_confidence_scale=0.9)
    values = diagnostics_to_floats(pseudo_label_diagnostics(selection, IMAGE_LOGITS, POINT_LOGITS, LABELS))
    expected = {
        "image_kept_ratio": 2 / 5,
        "point_kept_ratio": 2 / 5,
        "image_label_share": 1 / 2,  # kept s0 from the image, s1 from the point teacher
        "point_label_share": 1 / 2,
        "teacher_agreement": 2 / 5,  # argmaxes [1,1,1,2,0] vs [2,0,2,2,0] agree on s3, s4
        "image_confidence": (0.85 + 0.6 + 0.7 + 0.8 + 0.5) / 5,
        "point_confidence": (0.93 + 0.96 + 0.7 + 0.7 + 0.4) / 5,
        "image_entropy": _entropy(IMAGE_PROBS),
        "point_entropy": _entropy(POINT_PROBS),
        "image_sharpness": math.log(3) - _entropy(IMAGE_PROBS),
        "point_sharpness": math.log(3) - _entropy(POINT_PROBS),
        # image argmax histogram [1, 3, 1]/5, point argmax histogram [2, 0, 3]/5; KL(h ‖ uniform) = Σ h log(3h).
        "image_biasedness": 0.2 * math.log(0.6) + 0.6 * math.log(1.8) + 0.2 * math.log(0.6),
        "point_biasedness": 0.4 * math.log(1.2) + 0.6 * math.log(1.8),
        # Kept and labelled: s0 (pseudo 1, truth 1: right) and s1 (pseudo 0, truth 2: wrong).
        "image_pseudo_label_accuracy": 1 / 2,
        "point_pseudo_label_accuracy": 1 / 2,
        # Labelled s0, s1, s3, s4: image argmax [1, 1, 2, 0] vs [1, 2, 2, 0]; point [2, 0, 2, 0].
        "image_teacher_accuracy": 3 / 4,
        "point_teacher_accuracy": 2 / 4,
    }
    assert set(values) == set(expected)
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, rel=1e-6), key


def test_independent_branches_and_unknown_labels() -> None:
    selection = select_pseudo_labels(
        IMAGE_LOGITS, POINT_LOGITS, strategy="independent", image_threshold=0.75, point_threshold=0.9
    )
    values = diagnostics_to_floats(
        pseudo_label_diagnostics(selection, IMAGE_LOGITS, POINT_LOGITS, torch.tensor([1, -1, -1, 0, -1]))
    )
    assert values["image_kept_ratio"] == pytest.approx(2 / 5)  # s0, s3
    assert values["point_kept_ratio"] == pytest.approx(2 / 5)  # s0, s1
    # Image branch kept+labelled: s0 (1 = 1), s3 (2 ≠ 0). Point branch kept+labelled: s0 (2 ≠ 1).
    assert values["image_pseudo_label_accuracy"] == pytest.approx(1 / 2)
    assert values["point_pseudo_label_accuracy"] == 0.0


def test_undefined_values_are_nan_and_labels_are_optional() -> None:
    selection = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, threshold=0.99)
    values = diagnostics_to_floats(
        pseudo_label_diagnostics(selection, IMAGE_LOGITS, POINT_LOGITS, torch.full((5,), -1))
    )
    assert values["image_kept_ratio"] == 0.0
    assert math.isnan(values["image_label_share"])
    assert math.isnan(values["image_pseudo_label_accuracy"])
    assert math.isnan(values["point_teacher_accuracy"])
    without_labels = pseudo_label_diagnostics(selection, IMAGE_LOGITS, POINT_LOGITS)
    assert "image_teacher_accuracy" not in without_labels
    assert all(value.dim() == 0 and not value.requires_grad for value in without_labels.values())


def test_entropy_and_biasedness_extremes() -> None:
    assert mean_prediction_entropy(torch.zeros(2, 4)).item() == pytest.approx(math.log(4))
    assert mean_prediction_entropy(torch.tensor([[100.0, 0.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
    assert class_biasedness(torch.tensor([0, 1, 2, 0, 1, 2]), 3).item() == pytest.approx(0.0)
    assert class_biasedness(torch.tensor([1, 1, 1]), 3).item() == pytest.approx(math.log(3))
    # h = [½, ¼, ¼]: ½ log(3/2) + 2 · ¼ log(3/4).
    assert class_biasedness(torch.tensor([0, 0, 1, 2]), 3).item() == pytest.approx(
        0.5 * math.log(1.5) + 0.5 * math.log(0.75)
    )
    assert math.isnan(class_biasedness(torch.tensor([], dtype=torch.int64), 3).item())
    with pytest.raises(ValueError, match="num_classes"):
        class_biasedness(torch.tensor([0, 3]), 3)


def test_shape_errors() -> None:
    selection = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS)
    with pytest.raises(ValueError, match="same shape"):
        pseudo_label_diagnostics(selection, IMAGE_LOGITS, POINT_LOGITS[:, :2])
    with pytest.raises(ValueError, match="labels must have shape"):
        pseudo_label_diagnostics(selection, IMAGE_LOGITS, POINT_LOGITS, LABELS[:3])
