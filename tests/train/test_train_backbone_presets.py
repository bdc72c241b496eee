"""The zero-shot and Cross-MoST presets of the ULIP-2, OpenShape and Uni3D backbones: the family's model and
released weights on top of the dataset preset's values."""

import pytest

from crossmost_models import get_model_config
from crossmost_train.config import list_presets, load_config

BACKBONES = {"ulip2": "ulip2-pointbert-vitg14", "openshape": "openshape-pointbert-vitg14", "uni3d": "uni3d-g"}
DATASETS = ("modelnet40", "scanobjectnn", "scanobjectnn-bg", "scanobjectnn-hardest", "scanobjectnn-openshape")


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("dataset", DATASETS)
def test_backbone_presets_stack_the_model_on_the_dataset_values(backbone: str, dataset: str) -> None:
    assert {f"{backbone}-{dataset}-crossmost", f"{backbone}-{dataset}-zeroshot"} <= set(list_presets())
    plain = load_config([f"{dataset}-crossmost"])
    crossmost = load_config([f"{backbone}-{dataset}-crossmost"])
    zeroshot = load_config([f"{backbone}-{dataset}-zeroshot"])
    for cfg in (crossmost, zeroshot):
        assert cfg.model.name == BACKBONES[backbone]
        assert cfg.model.point_pretrained.startswith("weights/")
        assert cfg.model.pretrained in ("laion2b_s39b_b160k", "laion2b_s9b_b144k")
        assert cfg.objective == plain.objective
        assert cfg.data.root == plain.data.root
        assert cfg.optim == plain.optim
    expected_points = 8192 if dataset == "modelnet40" else plain.data.num_points
    assert crossmost.data.num_points == expected_points
    assert zeroshot.run.resume == "never"
    # OpenShape's file is a test set only: self-training is transductive on it, on every backbone.
    expected_train_split = "test" if dataset == "scanobjectnn-openshape" else "train"
    assert (crossmost.data.train_split, crossmost.data.eval_split) == (expected_train_split, "test")
    assert get_model_config(crossmost.model.name)["point_inputs"]["missing_color"] == 0.4
    # The giant towers self-train on one GPU: adapters, recomputed activations, a teacher sharing the frozen weights.
    memory = crossmost.memory
    assert (memory.trainable, memory.activation_checkpointing, memory.teacher_shares_frozen) == ("lora", True, True)
    assert crossmost.run.mixed_precision == "bf16"
    assert plain.memory.trainable == "all"  # the paper's presets keep the paper's setting
