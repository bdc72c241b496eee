"""Global-batch sampler (world-size invariance, resume offset), accuracy metrics."""

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
    subset_accuracy,
)
from crossmost_train.evaluation.metrics import MODELNET40_CLASSES
from crossmost_train.sampling import GlobalBatchSampler


def _global_batches(world: int, accum: int, global_batch: int, n: int, epoch: int) -> list[set[int]]:
    per = global_batch // (world * accum)
    samplers = [
        GlobalBatchSampler(n, batch_size=per, grad_accum_steps=accum, num_replicas=world, rank=r, seed=3)
        for r in range(world)
    ]
    for s in samplers:
        s.set_epoch(epoch)
    lists = [list(s) for s in samplers]
    steps = samplers[0].steps_per_epoch
    chunk = per * accum
    return [set().union(*(set(lst[k * chunk : (k + 1) * chunk]) for lst in lists)) for k in range(steps)]


def test_global_batches_do_not_depend_on_world_size_or_accumulation() -> None:
    reference = _global_batches(1, 1, 8, 37, epoch=2)
    assert len(reference) == 4
    assert all(len(b) == 8 for b in reference)
    assert _global_batches(2, 1, 8, 37, epoch=2) == reference
    assert _global_batches(2, 2, 8, 37, epoch=2) == reference
    assert _global_batches(4, 2, 8, 37, epoch=2) == reference
    assert _global_batches(1, 1, 8, 37, epoch=3) != reference


def test_resume_offset_skips_consumed_batches() -> None:
    s = GlobalBatchSampler(30, batch_size=3, grad_accum_steps=2, num_replicas=2, rank=1, seed=0)
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, start_batch=2)
    assert list(s) == full[6:]
    assert len(s) == len(full) - 6
    with pytest.raises(ValueError, match="fewer than one global batch"):
        GlobalBatchSampler(5, batch_size=3, num_replicas=2)


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
