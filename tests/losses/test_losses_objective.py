"""The combined objective: total = weighted sum of terms, skipping, strategies, validation, gradients."""

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch

from crossmost_losses import (
    TERM_NAMES,
    CrossMoSTObjective,
    ModelOutputs,
    ObjectiveConfig,
    cross_modal_infonce,
    fairness_loss,
    global_local_alignment_loss,
    masked_cross_entropy,
    masked_image_modeling_loss,
    masked_point_modeling_loss,
    select_pseudo_labels,
)


@dataclasses.dataclass(frozen=True)
class FakeOutput:
    """Stands in for crossmost_models.CrossModalOutput (same field names)."""

    image_embedding: torch.Tensor
    point_embedding: torch.Tensor
    image_logits: torch.Tensor
    point_logits: torch.Tensor
    image_patch_mask: torch.Tensor | None = None
    image_reconstruction: torch.Tensor | None = None
    image_target: torch.Tensor | None = None
    image_local_embedding: torch.Tensor | None = None
    point_group_mask: torch.Tensor | None = None
    point_token_prediction: torch.Tensor | None = None
    point_token_target: torch.Tensor | None = None
    point_local_embedding: torch.Tensor | None = None
    point_cls_embedding: torch.Tensor | None = None


B, C, D, H, P, G, W = 3, 3, 4, 8, 4, 5, 6  # batch, classes, embed dim, image side, patch side, groups, token width


def _student_fields(seed: int = 0, masked: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=torch.float64, generator=g).requires_grad_(True)

    grid = H // P
    fields = {
        "image_embedding": randn(B, D),
        "point_embedding": randn(B, D),
        "image_logits": randn(B, C),
        "point_logits": randn(B, C),
    }
    if masked:
        fields |= {
            "image_patch_mask": torch.rand(B, grid, grid, generator=g) < 0.5,
            "image_reconstruction": randn(B, 3, H, H),
            "image_target": torch.randn(B, 3, H, H, dtype=torch.float64, generator=g),
            "image_local_embedding": randn(B, grid * grid, D),
            "point_group_mask": torch.rand(B, G, generator=g) < 0.4,
            "point_token_prediction": randn(B, G, W),
            "point_token_target": torch.randn(B, G, W, dtype=torch.float64, generator=g),
            "point_local_embedding": randn(B, G, D),
            "point_cls_embedding": randn(B, D),
        }
    return fields


def _student(seed: int = 0, masked: bool = True) -> FakeOutput:
    return FakeOutput(**_student_fields(seed, masked))


# Teacher: s0 image-confident (label 1), s1 point-confident (label 0), s2 unsure.
TEACHER = SimpleNamespace(
    image_logits=torch.tensor([[0.05, 0.85, 0.10], [0.30, 0.60, 0.10], [0.4, 0.3, 0.3]], dtype=torch.float64).log(),
    point_logits=torch.tensor([[0.03, 0.04, 0.93], [0.96, 0.02, 0.02], [0.3, 0.4, 0.3]], dtype=torch.float64).log(),
)


def test_total_is_the_weighted_sum_of_independently_computed_terms() -> None:
    config = ObjectiveConfig(
        cls_image_weight=1.5,
        cls_point_weight=0.5,
        fairness_image_weight=0.7,
        fairness_point_weight=1.1,
        mim_weight=2.0,
        mpm_weight=0.3,
        global_local_image_weight=0.2,
        global_local_point_weight=0.4,
        alignment_weight=0.9,
        image_to_point_weight=0.5,
        point_to_image_weight=0.25,
        temperature=0.5,
    )
    fields = _student_fields()
    student = FakeOutput(**fields)
    output = CrossMoSTObjective(config)(student, TEACHER, labels=torch.tensor([1, 0, 2]))
    assert list(output.terms) == list(TERM_NAMES)

    labels = select_pseudo_labels(
        TEACHER.image_logits, TEACHER.point_logits, threshold=0.84, point_confidence_scale=0.9
    )
    assert labels.image_labels.tolist() == [1, 0, 0]
    assert labels.image_keep.tolist() == [True, True, False]
    assert student.image_patch_mask is not None
    assert student.point_group_mask is not None
    expected = {
        "cls_image": masked_cross_entropy(fields["image_logits"], labels.image_labels, labels.image_keep),
        "cls_point": masked_cross_entropy(fields["point_logits"], labels.point_labels, labels.point_keep),
        "fairness_image": fairness_loss(fields["image_logits"]),
        "fairness_point": fairness_loss(fields["point_logits"]),
        "mim": masked_image_modeling_loss(
            fields["image_reconstruction"], fields["image_target"], fields["image_patch_mask"]
        ),
        "mpm": masked_point_modeling_loss(
            fields["point_token_prediction"], fields["point_token_target"], fields["point_group_mask"]
        ),
        "global_local_image": global_local_alignment_loss(
            fields["image_local_embedding"], fields["image_embedding"], fields["image_patch_mask"]
        ),
        "global_local_point": global_local_alignment_loss(
            fields["point_local_embedding"], fields["point_cls_embedding"], fields["point_group_mask"]
        ),
        "alignment": cross_modal_infonce(
            fields["image_embedding"],
            fields["point_embedding"],
            temperature=0.5,
            image_to_point_weight=0.5,
            point_to_image_weight=0.25,
        ),
    }
    weights = config.term_weights()
    for name, value in expected.items():
        torch.testing.assert_close(output.terms[name], value, msg=name)
        assert output.weights[name] == weights[name]
    total = sum(weights[name] * value.item() for name, value in expected.items())
    assert output.total.item() == pytest.approx(total)
    assert sum(v.item() for v in output.weighted_terms().values()) == pytest.approx(output.total.item())
    assert output.diagnostics["image_kept_ratio"].item() == pytest.approx(2 / 3)
    assert output.diagnostics["image_pseudo_label_accuracy"].item() == pytest.approx(1.0)
    output.total.backward()
    assert student.image_logits.grad is not None
    assert student.point_local_embedding is not None
    assert student.point_local_embedding.grad is not None


def test_default_config_is_the_official_modelnet40_setting() -> None:
    config = ObjectiveConfig()
    assert config.term_weights() == {
        "cls_image": 1.0,
        "cls_point": 1.0,
        "fairness_image": 1.0,
        "fairness_point": 1.0,
        "mim": 1.0,
        "mpm": 1.0,
        "global_local_image": 0.2,
        "global_local_point": 0.2,
        "alignment": 1.0,
    }
    assert (config.strategy, config.threshold, config.point_confidence_scale, config.temperature) == (
        "joint",
        0.84,
        0.9,
        1.0,
    )


def test_terms_without_inputs_or_weight_are_skipped() -> None:
    unmasked = CrossMoSTObjective()(_student(masked=False), TEACHER)
    assert set(unmasked.terms) == {"cls_image", "cls_point", "fairness_image", "fairness_point", "alignment"}
    baseline = CrossMoSTObjective(ObjectiveConfig(alignment_weight=0.0, mim_weight=0.0))(_student(), TEACHER)
    assert "alignment" not in baseline.terms
    assert "mim" not in baseline.terms
    assert "mpm" in baseline.terms


def test_all_weights_zero_gives_a_backpropagating_zero() -> None:
    zero = ObjectiveConfig(
        cls_image_weight=0.0,
        cls_point_weight=0.0,
        fairness_image_weight=0.0,
        fairness_point_weight=0.0,
        mim_weight=0.0,
        mpm_weight=0.0,
        global_local_image_weight=0.0,
        global_local_point_weight=0.0,
        alignment_weight=0.0,
    )
    assert set(zero.term_weights().values()) == {0.0}
    student = _student(masked=False)
    output = CrossMoSTObjective(zero)(student, TEACHER)
    assert output.terms == {}
    assert output.total.item() == 0.0
    output.total.backward()
    assert student.image_logits.grad is not None
    assert torch.equal(student.image_logits.grad, torch.zeros(B, C, dtype=torch.float64))


def test_nothing_kept_gives_zero_classification_and_finite_gradients() -> None:
    student = _student()
    output = CrossMoSTObjective(ObjectiveConfig(threshold=0.999))(student, TEACHER)
    assert output.terms["cls_image"].item() == 0.0
    assert output.terms["cls_point"].item() == 0.0
    output.total.backward()
    assert torch.isfinite(student.image_logits.grad).all()  # type: ignore[arg-type]


def test_independent_strategy_trains_each_branch_on_its_own_labels() -> None:
    config = ObjectiveConfig(strategy="independent", image_threshold=0.8, point_threshold=0.9)
    output = CrossMoSTObjective(config)(_student(), TEACHER)
    assert output.pseudo_labels.image_labels.tolist() == [1, 1, 0]
    assert output.pseudo_labels.point_labels.tolist() == [2, 0, 1]
    assert output.pseudo_labels.image_keep.tolist() == [True, False, False]
    assert output.pseudo_labels.point_keep.tolist() == [True, True, False]
    student = _student()
    expected = masked_cross_entropy(student.point_logits, torch.tensor([2, 0, 1]), torch.tensor([True, True, False]))
    torch.testing.assert_close(output.terms["cls_point"], expected)


def test_random_strategy_is_reproducible_with_a_generator() -> None:
    objective = CrossMoSTObjective(ObjectiveConfig(strategy="random", threshold=0.5))
    first = objective(_student(), TEACHER, generator=torch.Generator().manual_seed(3))
    second = objective(_student(), TEACHER, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.pseudo_labels.source, second.pseudo_labels.source)
    assert first.total.item() == second.total.item()


def test_teacher_only_needs_logits_and_student_satisfies_protocol() -> None:
    student: ModelOutputs = _student()  # a frozen dataclass with the contract's field names type-checks
    teacher = SimpleNamespace(image_logits=TEACHER.image_logits, point_logits=TEACHER.point_logits)
    assert math.isfinite(CrossMoSTObjective()(student, teacher).total.item())


def test_shape_and_value_errors_name_the_culprit() -> None:
    objective = CrossMoSTObjective()
    wrong_classes = dataclasses.replace(_student(), image_logits=torch.zeros(B, C + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"student\.image_logits .* class count"):
        objective(wrong_classes, TEACHER)
    with pytest.raises(ValueError, match=r"teacher\.point_logits"):
        objective(_student(), SimpleNamespace(image_logits=TEACHER.image_logits, point_logits=torch.zeros(B, C + 1)))
    with pytest.raises(ValueError, match=r"student\.point_logits is None"):
        objective(dataclasses.replace(_student(), point_logits=None), TEACHER)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"student\.point_embedding must be 3×D"):
        objective(dataclasses.replace(_student(), point_embedding=torch.zeros(B + 1, D)), TEACHER)
    nan_logits = _student().point_logits.detach().clone()
    nan_logits[1, 2] = math.nan
    with pytest.raises(FloatingPointError, match=r"student\.point_logits .*'cls_point'"):
        objective(dataclasses.replace(_student(), point_logits=nan_logits), TEACHER)
    nan_reconstruction = torch.full((B, 3, H, H), math.nan, dtype=torch.float64)
    with pytest.raises(FloatingPointError, match=r"image_reconstruction .*'mim'"):
        objective(dataclasses.replace(_student(), image_reconstruction=nan_reconstruction), TEACHER)
    with pytest.raises(ValueError, match="mim_weight"):
        ObjectiveConfig(mim_weight=-1.0)
    with pytest.raises(ValueError, match="strategy"):
        ObjectiveConfig(strategy="vote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temperature"):
        ObjectiveConfig(temperature=0.0)


def test_student_without_masked_modelling_attributes_runs_when_those_terms_are_off() -> None:
    # A student that only has the four always-read attributes: the masked-modelling terms are switched off.
    student = SimpleNamespace(**_student_fields(masked=False))
    config = ObjectiveConfig(mim_weight=0, mpm_weight=0, global_local_image_weight=0, global_local_point_weight=0)
    out = CrossMoSTObjective(config)(student, TEACHER)
    assert set(out.terms) == {"cls_image", "cls_point", "fairness_image", "fairness_point", "alignment"}


def test_missing_student_attributes_are_named_with_the_terms_that_read_them() -> None:
    student = SimpleNamespace(**_student_fields(masked=False))
    with pytest.raises(TypeError) as info:
        CrossMoSTObjective(ObjectiveConfig(mpm_weight=0, global_local_point_weight=0))(student, TEACHER)
    message = str(info.value)
    assert "image_reconstruction (mim)" in message
    assert "image_patch_mask (mim, global_local_image)" in message
    assert "point_token_prediction" not in message  # its term is off


def test_missing_logits_are_named() -> None:
    fields = _student_fields(masked=False)
    del fields["point_logits"]
    with pytest.raises(TypeError, match=r"lack point_logits \(cls_point, fairness_point\)"):
        CrossMoSTObjective()(SimpleNamespace(**fields), TEACHER)
