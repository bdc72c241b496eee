"""The Objaverse-LVIS presets: the whole LVIS set as the test split, self-training on it without labels."""

from __future__ import annotations

from crossmost_train.config import list_presets, load_config


def test_objaverse_lvis_presets() -> None:
    assert {"objaverse-lvis-crossmost", "objaverse-lvis-zeroshot"} <= set(list_presets())
    crossmost = load_config(["objaverse-lvis-crossmost"])
    assert (crossmost.data.root, crossmost.data.train_split, crossmost.data.eval_split) == (
        "data/objaverse-lvis",
        "test",
        "test",
    )
    assert crossmost.model.name == load_config(["crossmost"]).model.name == "vit-b16-pointbert"
    assert (crossmost.objective.strategy, crossmost.objective.threshold) == ("joint", 0.84)
    assert crossmost.objective.point_confidence_scale == 0.9
    zeroshot = load_config(["objaverse-lvis-zeroshot"])
    assert zeroshot.run.resume == "never"
    assert (zeroshot.data.root, zeroshot.data.eval_split) == ("data/objaverse-lvis", "test")
    assert zeroshot.model == crossmost.model
