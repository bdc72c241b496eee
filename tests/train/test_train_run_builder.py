"""The builder of a run's parts: the prepared folder opened once (one read of ``manifest.json`` for class names and
both datasets), class names checked in one place, ``Components`` as the one way to swap parts (for selftrain,
evaluate and pre-training alike), and the former names that still import with a warning."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from crossmost_data.format.manifest import Manifest
from crossmost_models import create_model
from crossmost_train.config import ConfigError, TrainConfig, load_config
from crossmost_train.run_builder import (
    Components,
    DataError,
    DataShape,
    RunBuilder,
    data_shape,
    resolve_classnames,
)

from . import _train_fixtures as fx

CLASSES = ["airplane", "bottle", "chair", "lamp"]


def _prepare(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Path:
    return fx.prepare_synthetic_target(
        tmp_path_factory.mktemp(f"synthetic-target-{layout}"), CLASSES, objects_per_class=4, num_views=2,
        view_size=16, points=128, image_size=16, samples_per_shard=4, test_fraction=0.5, point_layout=layout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _prepare(tmp_path_factory, "xyz")


def test_a_colour_tower_reads_the_colours_a_folder_stores(tmp_path_factory: pytest.TempPathFactory) -> None:
    coloured = _prepare(tmp_path_factory, "xyzrgb")
    model = create_model("ulip2-tiny", classnames=CLASSES)
    shape = data_shape(_cfg(coloured, "data.num_points=64"), model)
    assert shape.point_colors  # ULIP-2's Point-BERT reads xyz + rgb
    stored = RunBuilder(_cfg(coloured)).eval_dataset(shape)[0]["points"]
    assert stored.shape == (shape.num_points, 6)
    assert 0.0 <= float(stored[:, 3:].min()) <= float(stored[:, 3:].max()) <= 1.0
    # the same folder to an xyz tower, and an xyz folder to the colour tower: three channels, the model fills grey
    plain = dataclasses.replace(shape, point_colors=False)
    assert RunBuilder(_cfg(coloured)).eval_dataset(plain)[0]["points"].shape == (shape.num_points, 3)
    xyz = _prepare(tmp_path_factory, "xyz")
    assert RunBuilder(_cfg(xyz)).eval_dataset(shape)[0]["points"].shape == (shape.num_points, 3)


def _cfg(root: Path | str, *overrides: str) -> TrainConfig:
    return load_config(["tiny"], [f"data.root={root}", "data.num_workers=0", *overrides])


def test_a_run_reads_the_manifest_once(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = Manifest.read.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Manifest], directory: Any) -> Manifest:
        reads.append(Path(directory))
        return real(cls, directory)  # type: ignore[no-any-return]

    monkeypatch.setattr(Manifest, "read", classmethod(counting))
    builder = RunBuilder(_cfg(dataset, "data.eval_view=1"))
    assert builder.classnames() == CLASSES
    shape = DataShape(image_size=16, patch_size=8, num_points=64)
    train = builder.train_dataset(shape)
    evaluation = builder.eval_dataset(shape)
    assert reads == [dataset]
    assert (len(train), len(evaluation)) == (8, 8)  # type: ignore[arg-type]
    sample = evaluation[0]
    assert sample["points"].shape == (64, 3)
    assert sample["views"].shape == (2, 3, 16, 16)
    assert torch.equal(sample["image"], sample["views"][1])  # data.eval_view
    weak_only = builder.train_dataset(shape, ("image_weak",))[0]
    assert "image_weak" in weak_only
    assert "points_strong" not in weak_only
    assert reads == [dataset]


def test_class_names_are_checked_against_the_manifest_in_one_place(dataset: Path) -> None:
    assert resolve_classnames([], CLASSES) == CLASSES
    assert resolve_classnames(CLASSES, []) == CLASSES
    with pytest.raises(DataError, match=r"not in the dataset: table; missing from model\.classnames: airplane"):
        resolve_classnames(["table", "bottle", "chair", "lamp"], CLASSES)
    with pytest.raises(DataError, match="same names in another order"):
        resolve_classnames(list(reversed(CLASSES)), CLASSES)
    with pytest.raises(ConfigError, match="no class names"):
        resolve_classnames([], [])
    with pytest.raises(DataError, match="disagree with the dataset manifest"):
        RunBuilder(_cfg(dataset, "model.classnames=[chair,table]")).classnames()


def test_a_folder_that_cannot_serve_the_run_is_a_data_error(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.root is not set"):
        RunBuilder(_cfg("")).classnames()
    with pytest.raises(DataError, match=r"data\.root='.*nowhere' is not a folder"):
        RunBuilder(_cfg(tmp_path / "nowhere")).classnames()
    with pytest.raises(DataError, match=r"manifest\.json is not valid"):
        RunBuilder(_cfg(tmp_path)).classnames()
    with pytest.raises(DataError, match=r"has no split 'val'"):
        RunBuilder(_cfg(dataset, "data.eval_split=val")).eval_dataset(DataShape(16, 8, 64))
    with pytest.raises(DataError, match=r"split 'test': .*points"):
        RunBuilder(_cfg(dataset)).eval_dataset(DataShape(16, 8, 100_000))


def test_components_replace_parts_and_the_folder_is_then_never_opened() -> None:
    seen: list[tuple[str, object]] = []
    model = fx.FakeCrossModalModel(3)

    def train_set(cfg: TrainConfig, shape: DataShape) -> fx.SeparableTrainSet:
        seen.append(("train", shape))
        return fx.SeparableTrainSet(8, 3, seed=cfg.data.seed)

    parts = Components(
        classnames=lambda cfg: ["a", "b", "c"],
        model=lambda cfg, classnames: model,
        train_dataset=train_set,
        eval_dataset=lambda cfg, shape: fx.SeparableEvalSet(5, 3),
    )
    builder = RunBuilder(load_config(["tiny"], ["data.num_points=16"]), parts)  # no data.root: never opened
    assert builder.classnames() == ["a", "b", "c"]
    assert builder.model(["a", "b", "c"]) is model
    shape = data_shape(builder.cfg, model)
    assert shape == DataShape(image_size=None, patch_size=16, num_points=16)
    assert len(builder.train_dataset(shape, ("image_weak",))) == 8  # type: ignore[arg-type]
    assert seen == [("train", shape)]
    assert len(builder.eval_dataset(shape)) == 5  # type: ignore[arg-type]


def test_pretraining_takes_components_and_its_former_dataset_factory_warns() -> None:
    from crossmost_train.pretrain import _components

    def factory(cfg: TrainConfig, shape: DataShape) -> fx.SeparableTrainSet:
        return fx.SeparableTrainSet(8, 3)

    names = Components(classnames=lambda cfg: ["x"])
    assert _components(names, None) is names
    with pytest.warns(DeprecationWarning, match="dataset_factory argument of pretrain_clip/pretrain_ulip"):
        merged = _components(names, factory)
    assert merged is not None
    assert merged.train_dataset is factory
    assert merged.classnames is names.classnames


def test_former_names_still_import_with_a_warning() -> None:
    import crossmost_train.config
    import crossmost_train.config.schema
    import crossmost_train.run_builder
    import crossmost_train.unreadable
    import crossmost_train.wiring as wiring
    from crossmost_train.config import TrainingObjectiveConfig

    for name in ("Components", "DataError", "DataShape", "build_model", "build_objective", "train_augment"):
        with pytest.warns(DeprecationWarning, match=rf"crossmost_train\.wiring\.{name} is deprecated"):
            assert getattr(wiring, name) is getattr(crossmost_train.run_builder, name)
    with pytest.warns(DeprecationWarning, match="crossmost_train.unreadable"):
        assert wiring.skipped_at_indexing is crossmost_train.unreadable.skipped_at_indexing
    for module in (crossmost_train.config, crossmost_train.config.schema):
        with pytest.warns(DeprecationWarning, match="TrainingObjectiveConfig"):
            assert module.ObjectiveConfig is TrainingObjectiveConfig  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert callable(wiring.freeze_frozen_parts)  # still at home
    with pytest.raises(AttributeError):
        _ = wiring.train_loader  # moved to crossmost_data.loader.build_train_loader (see the CHANGELOG)
