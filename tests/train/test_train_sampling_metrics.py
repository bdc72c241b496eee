"""Accuracy metrics."""

import math

import pytest
import torch

from crossmost_train.evaluation import (
    MODELNET40_HARD,
    MODELNET40_MEDIUM,
    accuracy,
    class_subsets,
    combine_joint,
    confusion_matrix,
    per_class_accuracy,
    pool_views,
    subset_accuracy,
)
from crossmost_train.evaluation.metrics import MODELNET40_CLASSES


def test_accuracy_per_class_confusion() -> None:
    logits = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 2.0, 0], [0, 0, 2.0], [5.0, 0, 0]])
    labels = torch.tensor([0, 1, 0, 2, -1])
    assert accuracy(logits, labels) == pytest.approx(75.0)
    per = per_class_accuracy(logits, labels, 3)
    assert per == pytest.approx([50.0, 100.0, 100.0])
    cm = confusion_matrix(logits, labels, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert math.isnan(accuracy(logits[:0], labels[:0]))


def test_modelnet40_subsets_and_protocols() -> None:
    assert len(MODELNET40_MEDIUM) == 22
    assert len(MODELNET40_HARD) == 17
    names = list(MODELNET40_CLASSES)
    groups = class_subsets(names, "auto")
    assert [names[i] for i in groups["hard"]] == list(MODELNET40_HARD)
    assert class_subsets(["chair", "table"], "auto") == {}
    cone, cup, airplane = names.index("cone"), names.index("cup"), names.index("airplane")
    logits = torch.zeros(2, 40)
    logits[0, airplane] = 3.0  # a cone object predicted as airplane (outside the subset)
    logits[0, cone] = 2.0
    logits[1, cup] = 1.0  # a cup object predicted correctly
    labels = torch.tensor([cone, cup])
    assert subset_accuracy(logits, labels, groups["medium"], "forty-way") == pytest.approx(50.0)
    assert subset_accuracy(logits, labels, groups["medium"], "restricted") == pytest.approx(100.0)


def test_joint_rules() -> None:
    a = torch.tensor([[2.0, 0.0], [0.0, 0.1]])
    b = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    prob = combine_joint(a, b, "probability").exp()
    expected = (a.softmax(1) + b.softmax(1)) / 2
    torch.testing.assert_close(prob, expected)
    torch.testing.assert_close(combine_joint(a, b, "logit"), (a + b) / 2)


def test_image_star_is_the_renormalised_view_mean_for_a_batch_and_for_one_object() -> None:
    # Two views (1, 0) and (0, 1): their mean (½, ½) renormalised is (1/√2, 1/√2).
    views = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    half = 1 / math.sqrt(2)
    torch.testing.assert_close(pool_views(views), torch.tensor([half, half]))
    batch = torch.stack([views, torch.tensor([[0.6, 0.8], [0.6, 0.8]])])
    torch.testing.assert_close(pool_views(batch), torch.tensor([[half, half], [0.6, 0.8]]))
