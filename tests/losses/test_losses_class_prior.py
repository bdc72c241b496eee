"""Distribution alignment of the teacher's predictions (crossmost_losses.class_prior) and its use in the objective."""

from types import SimpleNamespace

import pytest
import torch

from crossmost_losses import ClassPrior, CrossMoSTObjective, ObjectiveConfig, align_to_uniform_prior


def test_alignment_divides_by_the_prior_and_renormalises_by_hand() -> None:
    probabilities = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    prior = torch.tensor([0.5, 0.25, 0.25])
    # Row 1: 0.6/0.5, 0.3/0.25, 0.1/0.25 = 1.2, 1.2, 0.4 (sum 2.8). Row 2: 0.4, 0.8, 2.4 (sum 3.6).
    expected = torch.tensor([[1.2 / 2.8, 1.2 / 2.8, 0.4 / 2.8], [0.4 / 3.6, 0.8 / 3.6, 2.4 / 3.6]])
    torch.testing.assert_close(align_to_uniform_prior(probabilities, prior), expected)


def test_a_uniform_prior_changes_nothing() -> None:
    probabilities = torch.softmax(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    torch.testing.assert_close(align_to_uniform_prior(probabilities, torch.full((4,), 0.25)), probabilities)


def test_alignment_refuses_a_prior_of_the_wrong_size_or_with_zeros() -> None:
    with pytest.raises(ValueError, match="B×C"):
        align_to_uniform_prior(torch.full((2, 3), 1 / 3), torch.full((4,), 0.25))
    with pytest.raises(ValueError, match="positive and finite"):
        align_to_uniform_prior(torch.full((2, 3), 1 / 3), torch.tensor([0.5, 0.5, 0.0]))


def test_the_running_prior_is_an_exponential_moving_average_of_batch_means() -> None:
    tracker = ClassPrior(2, momentum=0.5)
    torch.testing.assert_close(tracker.prior, torch.tensor([0.5, 0.5]))
    tracker.update(torch.tensor([[1.0, 0.0], [0.8, 0.2]]))  # batch mean 0.9, 0.1
    torch.testing.assert_close(tracker.prior, torch.tensor([0.7, 0.3]))  # 0.5·0.5 + 0.5·0.9, 0.5·0.5 + 0.5·0.1
    tracker.update(torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(tracker.prior, torch.tensor([0.35, 0.65]))
    assert set(tracker.state_dict()) == {"prior"}
    with pytest.raises(ValueError, match="B×2"):
        tracker.update(torch.ones(3, 5) / 5)
    with pytest.raises(ValueError, match="momentum"):
        ClassPrior(2, momentum=1.0)


def test_a_class_the_teacher_favours_loses_its_confident_labels() -> None:
    # The image teacher puts 0.7 on class 0 for every sample: unaligned, both samples are kept as class 0. Once the
    # prior has learned that class 0 gets 0.7 of the mass on average, the second sample's label moves to class 1.
    image_logits = torch.tensor([[0.70, 0.25, 0.05], [0.70, 0.29, 0.01]]).log()
    point_logits = torch.zeros(2, 3)  # an uninformative point teacher never wins the joint comparison
    teacher = SimpleNamespace(image_logits=image_logits, point_logits=point_logits)
    plain = CrossMoSTObjective(ObjectiveConfig(threshold=0.45, point_confidence_scale=1.0)).select(teacher)
    assert plain.image_labels.tolist() == [0, 0]
    assert plain.image_keep.tolist() == [True, True]

    config = ObjectiveConfig(threshold=0.45, point_confidence_scale=1.0, align_class_prior=True, class_prior_momentum=0)
    aligned = CrossMoSTObjective(config, num_classes=3)
    labels = aligned.select(teacher)
    # momentum 0: the prior is this batch's mean, (0.70, 0.27, 0.03). Sample 1: 1, 0.926, 1.667 (sum 3.593);
    # sample 2: 1, 1.074, 0.333 (sum 2.407).
    torch.testing.assert_close(aligned.image_prior.prior, torch.tensor([0.70, 0.27, 0.03]))
    assert labels.image_labels.tolist() == [2, 1]
    first = (0.05 / 0.03) / (1 + 0.25 / 0.27 + 0.05 / 0.03)
    second = (0.29 / 0.27) / (1 + 0.29 / 0.27 + 0.01 / 0.03)
    expected = torch.tensor([first, second])
    torch.testing.assert_close(labels.image_confidence, expected)  # 0.464 and 0.446
    assert labels.image_keep.tolist() == [True, False]


def test_the_prior_learns_only_in_training_mode_and_needs_the_class_count() -> None:
    config = ObjectiveConfig(align_class_prior=True, class_prior_momentum=0.5)
    objective = CrossMoSTObjective(config, num_classes=2).eval()
    teacher = SimpleNamespace(image_logits=torch.tensor([[5.0, 0.0]]), point_logits=torch.tensor([[5.0, 0.0]]))
    objective.select(teacher)
    torch.testing.assert_close(objective.image_prior.prior, torch.tensor([0.5, 0.5]))
    objective.train().select(teacher)
    # 0.5 · 0.5 + 0.5 · softmax([5, 0])[0] = 0.25 + 0.5 · 0.99331
    expected = 0.25 + 0.5 * torch.sigmoid(torch.tensor(5.0))
    torch.testing.assert_close(objective.image_prior.prior[0], expected)
    torch.testing.assert_close(objective.point_prior.prior, objective.image_prior.prior)
    with pytest.raises(ValueError, match="num_classes"):
        CrossMoSTObjective(config)
    with pytest.raises(ValueError, match="3 classes but the class prior was built for 2"):
        objective.select(SimpleNamespace(image_logits=torch.zeros(1, 3), point_logits=torch.zeros(1, 3)))
    with pytest.raises(ValueError, match="class_prior_momentum"):
        ObjectiveConfig(class_prior_momentum=1.5)
    assert CrossMoSTObjective(ObjectiveConfig()).state_dict() == {}  # off by default: no state, as before


def test_an_empty_batch_keeps_the_average_and_an_underflowed_class_does_not_stop_a_run() -> None:
    tracker = ClassPrior(3, momentum=0.5)
    tracker.update(torch.empty(0, 3))
    torch.testing.assert_close(tracker.prior, torch.full((3,), 1 / 3))
    # A class no teacher ever gives any probability: with momentum 0 its average is exactly 0 after one batch.
    objective = CrossMoSTObjective(
        ObjectiveConfig(threshold=0.5, align_class_prior=True, class_prior_momentum=0.0), num_classes=3
    )
    logits = torch.tensor([[0.0, 0.0, -1e4], [2.0, 0.0, -1e4]])
    labels = objective.select(SimpleNamespace(image_logits=logits, point_logits=logits))
    assert float(objective.image_prior.prior[2]) == 0.0
    assert labels.image_labels.tolist() == [1, 0]  # (0.5, 0.5) ÷ (0.69, 0.31) favours class 1; sample 2 stays 0
    assert bool(torch.isfinite(labels.image_confidence).all())
