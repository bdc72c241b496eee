"""A prepared dataset's recipe read back from its manifest prepares a loose file into the very bytes the
preparation stored: one code path for ``crossmost-data render`` and ``crossmost-train predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmost_data.datasets import get_reader
from crossmost_data.format import decode_view, iter_shard
from crossmost_data.format.manifest import Manifest
from crossmost_data.prepare import PrepareConfig, prepare_dataset
from crossmost_data.prepare.recipe import default_recipe, prepare_file, recipe_from_manifest


def test_recipe_reproduces_the_stored_sample_of_a_z_up_folder_dataset(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    rng = np.random.default_rng(0)
    for name in ("chair", "table"):
        (raw / name).mkdir(parents=True)
        cloud = rng.normal(size=(300, 3)) * [1.0, 1.0, 3.0]  # tall along z, the up axis of the files
        np.savetxt(raw / name / "obj.xyz", cloud)
    reader = get_reader("folder", up_axis="z", view_source="depth")
    config = PrepareConfig(points_per_sample=128, num_views=2, image_size=32, downsample="fps", seed=5, progress=False)
    out = tmp_path / "prepared"
    assert (
        prepare_dataset(reader, raw, out, config, reader_options={"up_axis": "z", "view_source": "depth"}).exit_code
        == 0
    )
    manifest = Manifest.read(out)
    recipe = recipe_from_manifest(manifest, out / "manifest.json")
    assert (recipe.up_axis, recipe.view_source) == ("z", "depth")
    assert (recipe.prepare.points_per_sample, recipe.prepare.num_views, recipe.prepare.image_size) == (128, 2, 32)
    assert recipe.prepare.downsample == "fps"
    stored = {s.meta["source"]: s for shard in manifest.shards("train") for s in iter_shard(out / shard.file)}
    sample = stored["chair/obj.xyz"]
    item = prepare_file(raw / "chair" / "obj.xyz", recipe, seed=5, uid=sample.uid)
    np.testing.assert_array_equal(item.points, sample.points)
    for view, encoded in zip(item.views, sample.views, strict=True):
        np.testing.assert_array_equal(view, np.asarray(decode_view(encoded)))
    assert float(np.ptp(item.points[:, 1])) > float(np.ptp(item.points[:, 2]))  # z became up (y)


def test_recipe_overrides_and_defaults() -> None:
    recipe = default_recipe(points=64, views=3, image_size=48)
    assert (recipe.up_axis, recipe.view_source, recipe.origin) == ("y", "render", "defaults")
    changed = recipe.replace(up_axis="x", points=32, views=1, view_source="depth")
    assert (changed.up_axis, changed.view_source) == ("x", "depth")
    assert (changed.prepare.points_per_sample, changed.prepare.num_views) == (32, 1)
    assert changed.describe() == "x up, 32 points (random downsampling), 1 views of 48 px (depth projections)"


def test_modelnet_recipe_knows_its_files_are_z_up() -> None:
    manifest = Manifest(
        dataset="modelnet40",
        class_names=["a"],
        splits={},
        num_views=12,
        image_size=224,
        points_per_sample=8192,
        config={"prepare": {"downsample": "fps"}, "reader": {"name": "modelnet40", "view_source": "render"}},
    )
    recipe = recipe_from_manifest(manifest)
    assert (recipe.up_axis, recipe.view_source, recipe.prepare.num_views) == ("z", "render", 12)


def test_a_damaged_file_is_a_bad_item(tmp_path: Path) -> None:
    from crossmost_data.items import BadItemError

    broken = tmp_path / "broken.off"
    broken.write_text("OFF\n3 1 0\nnot numbers\n")
    with pytest.raises(BadItemError, match="unreadable OFF file"):
        prepare_file(broken, default_recipe(points=16))
