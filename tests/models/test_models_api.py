"""The open_clip/timm-style surface: list_models(pattern), list_pretrained, open_clip tags checked before a download,
hf-hub models loaded from a local cache, transforms, and new class names for a built model. Nothing is downloaded:
tags are checked against empty caches with the network probe replaced, and hub models come from a cache built
here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import crossmost_models as cm
from crossmost_models import pretrained as pretrained_module
from crossmost_models.clip import create_clip, create_text_encoder


def test_list_models_filters_by_pattern() -> None:
    assert cm.list_models("VIT-*") == ["vit-b16-pointbert"]
    assert cm.list_models("*") == cm.list_models()
    assert cm.list_models("nothing*") == []


def test_list_pretrained_names_open_clip_tags_per_model() -> None:
    pairs = cm.list_pretrained()
    assert ("vit-b16-pointbert", "openai") in pairs
    assert cm.list_pretrained("tiny") == []  # the tiny towers have no published weights
    assert all(model == "vit-b16-pointbert" for model, _ in cm.list_pretrained("vit-*"))


def test_unknown_tag_lists_the_known_ones(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"'nope' is neither a file nor an open_clip tag of 'ViT-B-32' \(its tags: "):
        create_clip("ViT-B-32", "nope", cache_dir=str(tmp_path))


def test_uncached_tag_without_network_is_one_line(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[str] = []

    def no_network(url: str, timeout: float = 5.0) -> str:
        probed.append(url)
        return "huggingface.co is unreachable (no network)"

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(pretrained_module, "unreachable", no_network)
    with pytest.raises(ValueError) as info:
        create_clip("ViT-B-32", "openai", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("cannot download the open_clip weights 'openai' of ViT-B-32 (hf-hub:timm/")
    assert "huggingface.co is unreachable (no network)" in message
    assert "local open_clip checkpoint file" in message
    assert probed == ["https://huggingface.co"]


def test_offline_mode_fails_without_probing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(pretrained_module, "unreachable", pytest.fail)
    with pytest.raises(ValueError, match="not in the local cache and HF_HUB_OFFLINE is set"):
        pretrained_module.check_tag("ViT-B-32", "openai", cache_dir=str(tmp_path))


def fake_hub_cache(cache, repo: str, files: dict[str, bytes]) -> None:
    """The layout huggingface_hub writes: refs/main names a snapshot folder holding the files."""
    root = cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)


def test_cached_tag_passes_offline(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = cm.clip.import_open_clip().get_pretrained_cfg("ViT-B-32", "openai")["hf_hub"].rstrip("/")
    fake_hub_cache(tmp_path, repo, {"open_clip_model.safetensors": b"x"})
    pretrained_module.check_tag("ViT-B-32", "openai", cache_dir=str(tmp_path))  # no error, no network


@pytest.fixture(scope="module")
def clip_weights(tmp_path_factory: pytest.TempPathFactory):
    """A local open_clip checkpoint of the tiny towers (random, seeded)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    clip, _ = create_clip("crossmost-tiny-clip")
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(path))
    return path


def test_hub_model_loads_offline_from_the_cache(tmp_path, clip_weights, monkeypatch: pytest.MonkeyPatch) -> None:
    model = cm.create_model("tiny", pretrained=str(clip_weights), classnames=["cup", "vase"])
    saved = model.save_pretrained(tmp_path / "saved")
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "someone/tiny-cups", {f.name: f.read_bytes() for f in saved.iterdir()})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = cm.from_pretrained("hf-hub:someone/tiny-cups", cache_dir=cache)
    assert loaded.classnames == ["cup", "vase"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    again = cm.create_model("hf-hub:someone/tiny-cups", cache_dir=cache)
    assert torch.equal(again.classifier.weight, model.classifier.weight)
    with pytest.raises(ValueError, match="cannot load hf-hub:someone/other: it is not in the local cache"):
        cm.from_pretrained("hf-hub:someone/other", cache_dir=cache)
    with pytest.raises(ValueError, match="not of the form hf-hub:user/repo"):
        cm.from_pretrained("hf-hub:no-slash", cache_dir=cache)


def test_set_classnames_rebuilds_the_classifier_from_the_recorded_text_tower(tmp_path, clip_weights) -> None:
    model = cm.create_model("tiny", pretrained=str(clip_weights), classnames=["cup", "vase"])
    assert model.config.text_pretrained == str(clip_weights)
    with torch.no_grad():
        model.classifier.logit_scale.fill_(2.0)
    reloaded = cm.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert reloaded.config.text_pretrained == str(clip_weights)  # recorded in config.json
    reloaded.set_classnames(["chair", "lamp", "desk"], text_encoder=create_text_encoder(reloaded))
    fresh = cm.create_model("tiny", pretrained=str(clip_weights), classnames=["chair", "lamp", "desk"])
    assert reloaded.classnames == ["chair", "lamp", "desk"]
    torch.testing.assert_close(reloaded.classifier.weight, fresh.classifier.weight)
    assert float(reloaded.classifier.logit_scale) == pytest.approx(2.0)  # the learned temperature is kept
    logits = reloaded.classify(torch.randn(2, reloaded.embed_dim))
    assert logits.shape == (2, 3)


def test_set_classnames_from_embeddings_and_errors() -> None:
    model = cm.create_model("tiny", classnames=["a", "b"])
    embeddings = torch.nn.functional.normalize(torch.randn(model.embed_dim, 4), dim=0)
    model.set_classnames(["p", "q", "r", "s"], class_embeddings=embeddings)
    torch.testing.assert_close(model.classifier.weight.detach(), embeddings)
    with pytest.raises(ValueError, match=r"must be D×C = \(\d+, 2\)"):
        model.set_classnames(["x", "y"], class_embeddings=embeddings)
    with pytest.raises(ValueError, match="records no text-tower weights"):
        create_text_encoder(model)  # random towers: nothing to rebuild the text tower from


def test_point_transform_rotates_resamples_and_normalises() -> None:
    z_up = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, -2.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    out = cm.PointTransform(4, up_axis="z")(z_up)
    assert out.dtype == torch.float32
    assert out.shape == (4, 3)
    heights = sorted(out[:, 1].tolist())
    assert heights == pytest.approx([-1.0, 0.0, 0.0, 1.0])  # z became y, scaled into the unit sphere
    many = cm.PointTransform(16, channels=6, seed=3)(np.random.default_rng(0).normal(size=(100, 3)))
    assert many.shape == (16, 6)
    assert torch.all(many[:, 3:] == 0.5)  # grey for clouds without colour
    assert float(many[:, :3].norm(dim=1).max()) == pytest.approx(1.0)
    assert torch.equal(many, cm.PointTransform(16, channels=6, seed=3)(np.random.default_rng(0).normal(size=(100, 3))))
    assert cm.PointTransform(10)(np.random.default_rng(0).normal(size=(4, 3))).shape == (10, 3)  # repeats
    with pytest.raises(ValueError, match="N×3 or N×6"):
        cm.PointTransform(8)(np.zeros((5, 2)))


def test_create_model_and_transforms() -> None:
    model, image_transform, point_transform = cm.create_model_and_transforms("tiny", classnames=["a", "b"], up_axis="z")
    image = image_transform(Image.new("RGB", (90, 70), (255, 255, 255)))
    assert tuple(image.shape) == (3, *model.image_size)
    mean, std = torch.tensor([0.48145466, 0.4578275, 0.40821073]), torch.tensor([0.26862954, 0.26130258, 0.27577711])
    torch.testing.assert_close(image[:, 0, 0], (1 - mean) / std)  # a white pixel, CLIP-normalised
    points = point_transform(np.random.default_rng(0).normal(size=(1000, 3)))
    assert tuple(points.shape) == (model.config.num_points, 3)
    with torch.no_grad():
        out = model.eval()(image[None], points[None])
    assert out.image_logits.shape == out.point_logits.shape == (1, 2)


def test_random_init_warning_is_silenced_only_inside_the_block(caplog: pytest.LogCaptureFixture) -> None:
    from crossmost_models.clip import random_towers_expected

    notice = "No pretrained weights loaded for model 'crossmost-tiny-clip'"
    with caplog.at_level("WARNING"):
        with random_towers_expected():
            create_clip("crossmost-tiny-clip")
        assert not any(notice in r.getMessage() for r in caplog.records)
        create_clip("crossmost-tiny-clip")  # elsewhere (a user's random towers) the warning stays
    assert any(notice in r.getMessage() for r in caplog.records)
