"""Templates, class-name cleaning, prompt-ensemble text encoding and the cosine classifier."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from crossmost_models import TextInitialisedClassifier, build_classifier_weights, clean_class_name, load_templates
from crossmost_models.clip import create_clip
from crossmost_models.text import clean_class_names, list_template_sets, resolve_templates


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("night_stand", "night stand"),
        ("flower_pot", "flower pot"),
        ("flowerPot", "flower pot"),
        ("  tv_stand ", "tv stand"),
        ("range__hood", "range hood"),
        ("TVStand", "TV stand"),
        ("trash container", "trash container"),
        ("glass-box", "glass box"),
        ("Chair", "chair"),
    ],
)
def test_clean_class_name(raw: str, clean: str) -> None:
    assert clean_class_name(raw) == clean


def test_clean_class_names_verbatim_and_collisions() -> None:
    assert clean_class_names(["night_stand", "bed"], verbatim=True) == ["night_stand", "bed"]
    with pytest.raises(ValueError, match="both become 'night stand'"):
        clean_class_names(["night_stand", "night stand"])
    with pytest.raises(ValueError, match="empty"):
        clean_class_name("__")
    with pytest.raises(ValueError, match="list of strings"):
        clean_class_names("chair")


def test_template_sets(tmp_path: Path) -> None:
    assert {"modelnet40_64", "paper", "photo", "shapenet_64"} <= set(list_template_sets())
    official = load_templates("modelnet40_64")
    assert len(official) == 64
    assert official[0] == "a point cloud model of {}."
    assert load_templates("paper") == ("a photo of a {}.", "a 3D model of a {}.")
    custom = tmp_path / "mine.json"
    custom.write_text(json.dumps({"templates": ["a render of a {}."]}))
    assert load_templates(str(custom)) == ("a render of a {}.",)
    with pytest.raises(KeyError, match="modelnet40_64"):
        load_templates("nope")
    with pytest.raises(ValueError, match=r"exactly one '\{\}'"):
        resolve_templates(["a photo of a thing."])


class _LookupTextModel(torch.nn.Module):
    """encode_text(tokens) = table[tokens[:, 0]]: prompt i is embedded as row i of a fixed table."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(table)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table[tokens[:, 0]]


def test_prompt_ensemble_known_answer() -> None:
    templates = ["a {}.", "the {}.", "one {}."]
    classnames = ["night_stand", "bed"]
    prompts = [t.format(c) for c in ["night stand", "bed"] for t in templates]
    table = torch.randn(len(prompts), 5, generator=torch.Generator().manual_seed(0))
    model = _LookupTextModel(table)

    def tokenizer(texts: list[str]) -> torch.Tensor:
        return torch.tensor([[prompts.index(text)] for text in texts])

    weights = build_classifier_weights(model, tokenizer, classnames, templates, batch_size=2)
    expected = torch.stack([F.normalize(F.normalize(table[3 * c : 3 * c + 3], dim=-1).mean(0), dim=0) for c in (0, 1)])
    torch.testing.assert_close(weights, expected.T)
    assert weights.shape == (5, 2)
    torch.testing.assert_close(weights.norm(dim=0), torch.ones(2))
    torch.testing.assert_close(
        build_classifier_weights(model, tokenizer, classnames, templates, batch_size=100), weights
    )


def test_prompt_ensemble_with_open_clip_text_tower() -> None:
    clip, tokenizer = create_clip("crossmost-tiny-clip")
    clip.train()
    weights = build_classifier_weights(clip, tokenizer, ["flower_pot", "chair"], "paper")
    assert clip.training  # mode restored
    with torch.no_grad():
        clip.eval()
        pot = F.normalize(
            clip.encode_text(tokenizer(["a photo of a flower pot.", "a 3D model of a flower pot."])), dim=-1
        )
    torch.testing.assert_close(weights[:, 0], F.normalize(pot.mean(0), dim=0), atol=1e-6, rtol=1e-5)
    verbatim = build_classifier_weights(clip, tokenizer, ["flower_pot", "chair"], "paper", clean_names=False)
    assert not torch.allclose(verbatim[:, 0], weights[:, 0])
    torch.testing.assert_close(verbatim[:, 1], weights[:, 1])


def test_classifier_logits_are_scaled_cosines() -> None:
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # column 1 has norm 2
    classifier = TextInitialisedClassifier(weight)
    assert classifier.logit_scale.item() == pytest.approx(math.log(100))
    assert isinstance(classifier.logit_scale, torch.nn.Parameter)
    features = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(classifier(features), torch.tensor([[60.0, 160.0]]))  # official: columns as they are
    renorm = TextInitialisedClassifier(weight, normalize_columns=True, learnable_scale=False, scale=10.0)
    torch.testing.assert_close(renorm(features), torch.tensor([[6.0, 8.0]]))
    assert "logit_scale" in dict(renorm.named_buffers())
    assert renorm.num_classes == 2
    assert renorm.embed_dim == 2


def test_classifier_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="D×C"):
        TextInitialisedClassifier(torch.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        TextInitialisedClassifier(torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="positive"):
        TextInitialisedClassifier(torch.ones(2, 2), scale=0.0)
    with pytest.raises(ValueError, match=r"B×2 features"):
        TextInitialisedClassifier(torch.ones(2, 2))(torch.ones(1, 3))


def test_logits_are_float32_under_bf16_autocast_so_threshold_decisions_do_not_flip() -> None:
    torch.manual_seed(0)
    num_classes, dim = 40, 64
    classifier = TextInitialisedClassifier(F.normalize(torch.randn(dim, num_classes), dim=0))
    # Embeddings near class 0 so that the top softmax probability sits around the 0.84 threshold.
    features = classifier.weight[:, 0].detach() + 0.4 * torch.randn(4096, dim)
    features_bf16 = features.to(torch.bfloat16)  # what the towers hand over under autocast
    exact = classifier(features_bf16.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = classifier(features_bf16)
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, exact, rtol=0, atol=1e-4)
    keep = logits.softmax(dim=1).amax(dim=1) > 0.84
    assert torch.equal(keep, exact.softmax(dim=1).amax(dim=1) > 0.84)
    assert 0.1 < keep.float().mean() < 0.9  # the threshold really cuts through this batch
    # ... and bf16 logits would flip some of its decisions (about 0.6 %, as measured on the teacher).
    rounded = (classifier.scale() * F.normalize(features_bf16, dim=-1) @ classifier.weight.to(torch.bfloat16)).float()
    assert (keep != (rounded.softmax(dim=1).amax(dim=1) > 0.84)).sum() > 0
