"""Pseudo-label selection: every strategy on a constructed batch whose answers are worked out by hand."""

import math
from types import SimpleNamespace

import pytest
import torch

from crossmost_losses import (
    IMAGE_SOURCE,
    POINT_SOURCE,
    CrossMoSTObjective,
    ObjectiveConfig,
    PseudoLabelSelector,
    select_pseudo_labels,
)

# Teacher probabilities, C = 3. Logits are log-probabilities, so softmax gives these rows back.
#            image probs (argmax, conf)        point probs (argmax, conf, ×0.9)
# s0: [0.05, 0.85, 0.10] (1, .85)     [0.03, 0.04, 0.93] (2, .93 → .837)  image wins although .93 > .85
# s1: [0.30, 0.60, 0.10] (1, .60)     [0.96, 0.02, 0.02] (0, .96 → .864)  point wins, .864 > .84
# s2: [0.20, 0.70, 0.10] (1, .70)     [0.10, 0.20, 0.70] (2, .70 → .63)   image wins, .70 < .84
# s3: [0.10, 0.10, 0.80] (2, .80)     [0.15, 0.15, 0.70] (2, .70 → .63)   agree, image wins
# s4: [0.50, 0.30, 0.20] (0, .50)     [0.40, 0.30, 0.30] (0, .40 → .36)   agree, weak
IMAGE_PROBS = [[0.05, 0.85, 0.10], [0.30, 0.60, 0.10], [0.20, 0.70, 0.10], [0.10, 0.10, 0.80], [0.50, 0.30, 0.20]]
POINT_PROBS = [[0.03, 0.04, 0.93], [0.96, 0.02, 0.02], [0.10, 0.20, 0.70], [0.15, 0.15, 0.70], [0.40, 0.30, 0.30]]
IMAGE_LOGITS = torch.tensor(IMAGE_PROBS, dtype=torch.float64).log()
POINT_LOGITS = torch.tensor(POINT_PROBS, dtype=torch.float64).log()
IMAGE_ARGMAX = [1, 1, 1, 2, 0]
POINT_ARGMAX = [2, 0, 2, 2, 0]


def _bools(values: str) -> list[bool]:
    return [c == "T" for c in values]


def test_joint_takes_the_more_confident_scaled_modality() -> None:
    result = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, threshold=0.84, point_confidence_scale=0.9)
    assert result.source.tolist() == [IMAGE_SOURCE, POINT_SOURCE, IMAGE_SOURCE, IMAGE_SOURCE, IMAGE_SOURCE]
    assert result.image_labels.tolist() == [1, 0, 1, 2, 0]
    assert result.point_labels.tolist() == [1, 0, 1, 2, 0]
    assert result.image_keep.tolist() == _bools("TTFFF")
    assert result.point_keep.tolist() == _bools("TTFFF")
    assert result.image_labels.dtype == torch.int64
    assert result.image_keep.dtype == torch.bool
    # Confidences are the raw maxima, before the point scale.
    torch.testing.assert_close(result.image_confidence, torch.tensor([0.85, 0.6, 0.7, 0.8, 0.5], dtype=torch.float64))
    torch.testing.assert_close(result.point_confidence, torch.tensor([0.93, 0.96, 0.7, 0.7, 0.4], dtype=torch.float64))


def test_point_scale_makes_a_point_label_lose() -> None:
    # s0: raw point confidence .93 beats image .85, but .9 × .93 = .837 does not.
    scaled = select_pseudo_labels(IMAGE_LOGITS[:1], POINT_LOGITS[:1], threshold=0.84, point_confidence_scale=0.9)
    unscaled = select_pseudo_labels(IMAGE_LOGITS[:1], POINT_LOGITS[:1], threshold=0.84, point_confidence_scale=1.0)
    assert (scaled.image_labels.item(), scaled.source.item()) == (1, IMAGE_SOURCE)
    assert (unscaled.image_labels.item(), unscaled.source.item()) == (2, POINT_SOURCE)


def test_threshold_is_strict() -> None:
    first = select_pseudo_labels(IMAGE_LOGITS[:1], POINT_LOGITS[:1], threshold=0.0)
    exact = first.image_confidence.item()
    at_threshold = select_pseudo_labels(IMAGE_LOGITS[:1], POINT_LOGITS[:1], threshold=exact)
    below = select_pseudo_labels(IMAGE_LOGITS[:1], POINT_LOGITS[:1], threshold=math.nextafter(exact, 0.0))
    assert not at_threshold.image_keep.item()
    assert below.image_keep.item()


def test_exact_tie_goes_to_the_configured_modality() -> None:
    # The same logit values in permuted class positions: identical maxima, different argmax.
    image = torch.tensor([[2.0, 0.0, -1.0]])
    point = torch.tensor([[0.0, 2.0, -1.0]])
    default = select_pseudo_labels(image, point, threshold=0.5, point_confidence_scale=1.0)
    assert default.image_confidence.item() == default.point_confidence.item()  # the premise: an exact tie
    assert (default.image_labels.item(), default.source.item()) == (0, IMAGE_SOURCE)
    to_point = select_pseudo_labels(image, point, threshold=0.5, point_confidence_scale=1.0, tie_break="point")
    assert (to_point.image_labels.item(), to_point.source.item()) == (1, POINT_SOURCE)
    # Never the official "sum of the two labels" (0 + 1 = 1 here would coincide, so check a 1 + 2 tie too).
    image2, point2 = torch.tensor([[-1.0, 2.0, 0.0]]), torch.tensor([[-1.0, 0.0, 2.0]])
    assert select_pseudo_labels(image2, point2, point_confidence_scale=1.0).image_labels.item() == 1


def test_argmax_tie_inside_one_modality_takes_the_lowest_class() -> None:
    logits = torch.tensor([[1.0, 3.0, 3.0]])
    result = select_pseudo_labels(logits, logits - 5.0, threshold=0.0, point_confidence_scale=1.0)
    assert result.image_labels.item() == 1


def test_independent_uses_each_branch_label_and_threshold() -> None:
    result = select_pseudo_labels(
        IMAGE_LOGITS,
        POINT_LOGITS,
        strategy="independent",
        image_threshold=0.75,
        point_threshold=0.9,
        point_confidence_scale=0.5,  # no effect: independent compares raw confidences to per-branch thresholds
    )
    assert result.image_labels.tolist() == IMAGE_ARGMAX
    assert result.point_labels.tolist() == POINT_ARGMAX
    assert result.image_keep.tolist() == _bools("TFFTF")  # .85 and .80 > .75
    assert result.point_keep.tolist() == _bools("TTFFF")  # .93 and .96 > .90
    fallback = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="independent", threshold=0.84)
    assert fallback.image_keep.tolist() == _bools("TFFFF")
    assert fallback.point_keep.tolist() == _bools("TTFFF")


def test_image_and_point_strategies_use_one_modality_for_both_branches() -> None:
    image = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="image", threshold=0.84)
    assert image.image_labels.tolist() == IMAGE_ARGMAX == image.point_labels.tolist()
    assert image.image_keep.tolist() == _bools("TFFFF") == image.point_keep.tolist()
    assert image.source.tolist() == [IMAGE_SOURCE] * 5
    point = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="point", threshold=0.84)
    assert point.image_labels.tolist() == POINT_ARGMAX == point.point_labels.tolist()
    assert point.image_keep.tolist() == _bools("TTFFF")  # raw .93, .96 (no scale for a single modality)
    assert point.source.tolist() == [POINT_SOURCE] * 5


def test_image_and_point_strategies_use_their_own_modality_threshold() -> None:
    # The authors' image-only / point-only switches act without joint labels: image 0.80, point 0.82 (not 0.84).
    image = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="image", threshold=0.84, image_threshold=0.79)
    assert image.image_keep.tolist() == _bools("TFFTF") == image.point_keep.tolist()  # .85 and .80 > .79
    point = select_pseudo_labels(
        IMAGE_LOGITS, POINT_LOGITS, strategy="point", threshold=0.84, image_threshold=0.99, point_threshold=0.69
    )
    assert point.image_keep.tolist() == _bools("TTTTF") == point.point_keep.tolist()  # .93 .96 .70 .70 > .69
    objective = ObjectiveConfig(strategy="image", threshold=0.84, image_threshold=0.79)
    kept = CrossMoSTObjective(objective).select(SimpleNamespace(image_logits=IMAGE_LOGITS, point_logits=POINT_LOGITS))
    assert kept.image_keep.tolist() == _bools("TFFTF")


def test_random_strategy_follows_its_generator() -> None:
    generator = torch.Generator().manual_seed(7)
    result = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="random", threshold=0.6, generator=generator)
    draw = torch.randint(0, 2, (5,), generator=torch.Generator().manual_seed(7)).bool()
    assert result.source.tolist() == draw.long().tolist()
    expected_labels = [p if d else i for i, p, d in zip(IMAGE_ARGMAX, POINT_ARGMAX, draw.tolist(), strict=True)]
    assert result.image_labels.tolist() == expected_labels == result.point_labels.tolist()
    image_conf = [0.85, 0.6, 0.7, 0.8, 0.5]
    scaled_point_conf = [0.9 * c for c in [0.93, 0.96, 0.7, 0.7, 0.4]]
    expected_keep = [
        (p if d else i) > 0.6 for i, p, d in zip(image_conf, scaled_point_conf, draw.tolist(), strict=True)
    ]
    assert result.image_keep.tolist() == expected_keep
    again = select_pseudo_labels(
        IMAGE_LOGITS, POINT_LOGITS, strategy="random", threshold=0.6, generator=torch.Generator().manual_seed(7)
    )
    assert torch.equal(again.source, result.source)
    # Over many samples both modalities get drawn, about half each.
    many = select_pseudo_labels(
        IMAGE_LOGITS.repeat(200, 1),
        POINT_LOGITS.repeat(200, 1),
        strategy="random",
        generator=torch.Generator().manual_seed(0),
    )
    assert 0.4 < many.source.double().mean().item() < 0.6


def test_agreement_keeps_agreeing_confident_samples() -> None:
    result = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="agreement")
    # s3 (2 = 2, min .8/.63 = .63) and s4 (0 = 0, min .5/.36 = .36) agree and pass the 0.2 floor.
    assert result.image_keep.tolist() == _bools("FFFTT") == result.point_keep.tolist()
    assert result.image_labels[3].item() == 2
    assert result.image_labels[4].item() == 0
    raised_floor = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, strategy="agreement", agreement_floor=0.4)
    assert raised_floor.image_keep.tolist() == _bools("FFFTF")  # s4: .9 × .4 = .36 < .4
    with_threshold = select_pseudo_labels(
        IMAGE_LOGITS, POINT_LOGITS, strategy="agreement", agreement_requires_threshold=True, threshold=0.75
    )
    assert with_threshold.image_keep.tolist() == _bools("FFFTF")  # s3: max .8 > .75; s4: .5 is not


def test_selector_module_matches_function_and_validates() -> None:
    selector = PseudoLabelSelector(strategy="joint", threshold=0.84, point_confidence_scale=0.9)
    direct = select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, threshold=0.84, point_confidence_scale=0.9)
    assert torch.equal(selector(IMAGE_LOGITS, POINT_LOGITS).image_labels, direct.image_labels)
    with pytest.raises(ValueError, match="unknown strategy"):
        PseudoLabelSelector(strategy="vote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="disagree in shape"):
        select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS[:, :2])
    with pytest.raises(ValueError, match="B×C"):
        select_pseudo_labels(IMAGE_LOGITS[0], POINT_LOGITS[0])
    with pytest.raises(ValueError, match="point_confidence_scale"):
        select_pseudo_labels(IMAGE_LOGITS, POINT_LOGITS, point_confidence_scale=0.0)


def test_low_precision_logits_select_like_float32() -> None:
    low = select_pseudo_labels(IMAGE_LOGITS.bfloat16(), POINT_LOGITS.bfloat16(), threshold=0.84)
    assert low.image_confidence.dtype == torch.float32
    assert low.image_labels.tolist() == [1, 0, 1, 2, 0]
