"""The old module names keep working for one release: they warn, and give the very objects of the new modules."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

MOVED = {
    "crossmost_data.manifest": "crossmost_data.format.manifest",
    "crossmost_data.prepare_config": "crossmost_data.prepare.config",
    "crossmost_data.shard_plan": "crossmost_data.prepare.plan",
    "crossmost_data.item_pipeline": "crossmost_data.prepare.worker",
    "crossmost_data.recipe": "crossmost_data.prepare.recipe",
    "crossmost_data.sampling": "crossmost_data.points",
    "crossmost_data.depth": "crossmost_data.views.depth",
    "crossmost_data.render": "crossmost_data.views",
    "crossmost_data.synth": "crossmost_data.datasets.synthetic",
    "crossmost_data.shards": "crossmost_data.format",
}


RENAMED_IN_SHARDS = {"SampleIndex", "ShardWriter", "index_shard", "read_indexed_sample"}


def _import_fresh(name: str) -> object:
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=rf"{name} has moved to"):
        return importlib.import_module(name)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_name_warns_and_gives_the_new_objects(old: str, new: str) -> None:
    module = _import_fresh(old)
    target = importlib.import_module(new)
    names = [name for name in module.__all__ if hasattr(target, name)]  # type: ignore[attr-defined]
    renamed = set(module.__all__) - set(names)  # type: ignore[attr-defined]
    # Only the old shard module kept names its new home gave up (the next test reads and writes with them).
    assert renamed == (RENAMED_IN_SHARDS if old == "crossmost_data.shards" else set()), renamed
    assert names
    for name in names:
        assert getattr(module, name) is getattr(target, name), name


def test_the_old_shard_names_read_and_write_as_before(tmp_path: Path) -> None:
    shards = _import_fresh("crossmost_data.shards")
    from crossmost_data.format import AtomicTarWriter, encode_sample

    assert shards.ShardWriter is AtomicTarWriter  # type: ignore[attr-defined]
    points = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = tmp_path / "train-000000.tar"
    with shards.ShardWriter(path) as writer:  # type: ignore[attr-defined]
        writer.write("a", encode_sample("a", points, [], {"label": 0}))
        writer.write("b", encode_sample("b", points + 1, [], {"label": 1}))
    index = shards.index_shard(path)  # type: ignore[attr-defined]
    assert [entry.key for entry in index] == ["a", "b"]
    sample = shards.read_indexed_sample(path, index[1])  # type: ignore[attr-defined]
    np.testing.assert_array_equal(sample.points, points + 1)
    assert sample.meta["label"] == 1
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(shards.ShardCorruptError, match=r"train-000000\.tar"):  # type: ignore[attr-defined]
        shards.index_shard(path)  # type: ignore[attr-defined]


def test_the_loaders_old_normaliser_name_warns_and_is_the_points_one() -> None:
    import crossmost_data.loader as loader
    from crossmost_data.points import recentre_in_unit_sphere

    with pytest.warns(DeprecationWarning, match="recentre_in_unit_sphere"):
        assert loader.normalize_unit_sphere is recentre_in_unit_sphere  # type: ignore[attr-defined]
