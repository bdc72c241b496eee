"""The demo's pre-trained towers: the shipped folder, its checks, and the export of towers made from scratch."""

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from crossmost_train.demo.pretrained import (
    SHIPPED_NAME,
    PretrainedTowersError,
    export_towers,
    shipped_towers,
    verify_towers,
)
from crossmost_train.demo.scale import RECIPE


def _model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"format": "crossmost-model"}')
    (path / "model.safetensors").write_bytes(b"weights" * 100)
    return path


def test_exported_towers_record_the_recipe_commands_and_checksums(tmp_path: Path) -> None:
    model = _model_folder(tmp_path / "ulip" / "model")
    dest = export_towers(model, tmp_path / "towers", RECIPE, ["crossmost-data synth ...", "crossmost-train pretrain"])
    record = json.loads((dest / "recipe.json").read_text())
    assert record["recipe_key"] == RECIPE.key()
    assert record["recipe"]["classes"] == list(RECIPE.classes)
    assert record["commands"] == ["crossmost-data synth ...", "crossmost-train pretrain"]
    assert record["sha256"]["model.safetensors"] == hashlib.sha256(b"weights" * 100).hexdigest()
    assert set(record["made_with"]) == {"crossmost-train", "torch", "open_clip_torch"}
    assert verify_towers(dest, RECIPE) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["towers", "ulip"]  # no staging folder left behind


def test_exported_towers_get_the_modes_a_plain_write_gives(tmp_path: Path) -> None:
    model = _model_folder(tmp_path / "model")
    old = os.umask(0o022)
    try:
        dest = export_towers(model, tmp_path / "towers", RECIPE, [])
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in dest.iterdir()} == {0o644}


def test_export_replaces_an_older_folder_whole(tmp_path: Path) -> None:
    dest = tmp_path / "towers"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    export_towers(_model_folder(tmp_path / "model"), dest, RECIPE, [])
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "model.safetensors", "recipe.json"]


def test_damaged_or_foreign_towers_are_refused_with_what_is_wrong(tmp_path: Path) -> None:
    dest = export_towers(_model_folder(tmp_path / "model"), tmp_path / "towers", RECIPE, [])
    other = dataclasses.replace(RECIPE, clip_epochs=RECIPE.clip_epochs + 1)
    with pytest.raises(PretrainedTowersError, match="--from-scratch"):
        verify_towers(dest, other)
    (dest / "model.safetensors").write_bytes(b"weights" * 99 + b"xxxxxxx")
    with pytest.raises(PretrainedTowersError, match=r"model\.safetensors: sha256 .* the file is damaged"):
        verify_towers(dest, RECIPE)
    (dest / "config.json").unlink()
    with pytest.raises(PretrainedTowersError, match=r"config\.json is missing"):
        verify_towers(dest, RECIPE)
    with pytest.raises(PretrainedTowersError, match=r"no recipe\.json"):
        verify_towers(tmp_path / "model", RECIPE)


def test_the_shipped_towers_match_this_recipe() -> None:
    folder = shipped_towers(RECIPE)
    assert folder.name == SHIPPED_NAME
    record = json.loads((folder / "recipe.json").read_text())
    assert record["recipe"]["seed"] == RECIPE.seed
    assert any("pretrain --task clip" in command for command in record["commands"])
    assert any("pretrain --task ulip" in command for command in record["commands"])
    config = json.loads((folder / "config.json").read_text())
    assert config["classnames"] == list(RECIPE.classes)
