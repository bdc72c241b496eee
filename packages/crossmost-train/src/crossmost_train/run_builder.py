"""The builder of a run's parts from its :class:`~crossmost_train.config.TrainConfig`: class names, model,
datasets, loaders and objective; and :class:`Components`, the one way to swap any of the first four for your own.

The prepared dataset folder is opened once per run (:class:`crossmost_data.loader.PreparedData`: one read of
``manifest.json``, whose class list is checked there); the class names the config gives are checked against it
here, in :func:`resolve_classnames`. Datasets and loaders are crossmost-data's (:mod:`crossmost_data.loader`);
this module only turns config sections into their arguments.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelerate import Accelerator, PartialState
from torch import nn
from torch.utils.data import DataLoader, Dataset

import crossmost_models
from crossmost_data.loader import (
    AugmentConfig,
    GlobalBatchSampler,
    ImageAugmentConfig,
    LoaderConfig,
    MaskConfig,
    PointAugmentConfig,
    PreparedData,
    PreparedDataError,
    Sample,
    StreamingEpochs,
    build_eval_loader,
    build_train_loader,
)
from crossmost_losses import CrossMoSTObjective
from crossmost_train.config import ConfigError, TrainConfig, apply_section

__all__ = [
    "ClassNamesBuilder",
    "Components",
    "DataError",
    "DataShape",
    "DatasetBuilder",
    "ModelBuilder",
    "RunBuilder",
    "build_model",
    "build_objective",
    "data_shape",
    "loader_config",
    "resolve_classnames",
    "train_augment",
]


class DataError(RuntimeError):
    """The prepared dataset is missing, corrupt or does not fit the run's configuration."""


@dataclass(frozen=True)
class DataShape:
    """What the loader must produce for a model: image size, ViT patch size (mask grid), points per cloud, and
    whether its point tower reads colour (``xyzrgb``; clouds of an ``xyz`` dataset get the tower's fill colour)."""

    image_size: int | None
    patch_size: int
    num_points: int | None
    point_colors: bool = False


ClassNamesBuilder = Callable[[TrainConfig], list[str]]
"""config → the classifier's class names."""
ModelBuilder = Callable[[TrainConfig, Sequence[str]], nn.Module]
"""(config, class names) → a model with the ``CrossModalModel`` interface."""
DatasetBuilder = Callable[[TrainConfig, DataShape], Dataset[Sample]]
"""(config, the shape the model needs) → a dataset of samples in the loader's layout."""


@dataclass
class Components:
    """Your own builders for some parts of a run; the parts left at ``None`` are built from the config.

    Pass it to ``run_selftrain``, ``run_evaluate``, ``pretrain_clip`` or ``pretrain_ulip`` to self-train or evaluate
    your own model or dataset from Python. The loaders, the optimiser and the objective are always built from the
    config.

    Attributes:
        classnames: config → class names (default: the manifest of ``data.root``, checked against
            ``model.classnames``).
        model: (config, class names) → a model with the ``CrossModalModel`` interface (default: ``create_model``
            with the config's ``model`` section).
        train_dataset: (config, :class:`DataShape`) → the training dataset: ``mode="train"`` samples, and
            ``set_epoch`` when its samples change with the epoch (default: the ``data.train_split`` shards).
        eval_dataset: (config, :class:`DataShape`) → the evaluation dataset: ``mode="eval"`` samples with
            ``views`` (default: the ``data.eval_split`` shards, every view).
    """

    classnames: ClassNamesBuilder | None = None
    model: ModelBuilder | None = None
    train_dataset: DatasetBuilder | None = None
    eval_dataset: DatasetBuilder | None = None


# ----------------------------------------------------------------------------------------------- class names
def resolve_classnames(configured: Sequence[str], dataset: Sequence[str]) -> list[str]:
    """The classifier's class names: the configured ones must equal the dataset's (same names, same order).

    Raises:
        DataError: both are given and differ (the message says how).
        ConfigError: neither is given.
    """
    dataset = list(dataset)
    if configured and dataset and list(configured) != dataset:
        extra = [c for c in configured if c not in dataset]
        missing = [c for c in dataset if c not in configured]
        detail = []
        if extra:
            detail.append(f"not in the dataset: {', '.join(extra[:8])}")
        if missing:
            detail.append(f"missing from model.classnames: {', '.join(missing[:8])}")
        if not detail:
            detail.append("same names in another order (the index is the label)")
        raise DataError(
            "model.classnames disagree with the dataset manifest (" + "; ".join(detail) + "); leave "
            "model.classnames empty to use the manifest's"
        )
    names = list(configured) or dataset
    if not names:
        raise ConfigError("no class names: set model.classnames or data.root")
    return names


# ----------------------------------------------------------------------------------------------------- the model
def build_model(cfg: TrainConfig, classnames: Sequence[str]) -> nn.Module:
    """``create_model`` with the configured name, weights, templates and overrides (frozen parts are frozen by
    ``crossmost_train.wiring.freeze_frozen_parts``)."""
    name = cfg.model.name
    if name not in crossmost_models.list_models():
        close = difflib.get_close_matches(name, crossmost_models.list_models(), n=4)
        raise ConfigError(f"model.name={name!r} is not a model config" + (f"; did you mean {close}?" if close else ""))
    m = cfg.model
    point_weights = m.point_pretrained if m.init_point_encoder else ""
    # "Init ✗" skips the aligned point tower but keeps a pre-trained tokenizer (the authors' from_scratch path).
    tokenizer_weights = m.point_tokenizer_pretrained or ("" if m.init_point_encoder else m.point_pretrained)
    try:
        model = crossmost_models.create_model(
            name,
            pretrained=m.pretrained or None,
            point_pretrained=point_weights or None,
            classnames=list(classnames),
            templates=m.templates,
            **m.overrides,
        )
        if not m.init_point_encoder:
            model.reset_point_branch()
        if tokenizer_weights:
            crossmost_models.load_point_tokenizer(model, tokenizer_weights)
    except (ValueError, KeyError) as err:
        raise ConfigError(f"cannot build model {name!r}: {err}") from None
    return model


def data_shape(cfg: TrainConfig, model: nn.Module) -> DataShape:
    """The :class:`DataShape` of a ``CrossModalModel`` (``data.num_points`` overrides the model's)."""
    image_size = getattr(model, "image_size", None)
    config = getattr(model, "config", None)
    patch = int(getattr(getattr(model, "image_tower", None), "patch_size", 16))
    num_points = cfg.data.num_points or int(getattr(config, "num_points", 0) or 0) or None
    point_config = getattr(getattr(model, "point_encoder", None), "config", None)
    colors = int(getattr(point_config, "in_channels", 3)) == 6
    return DataShape(int(image_size[0]) if image_size else None, patch, num_points, colors)


# ------------------------------------------------------------------------------------------------- the objective
def build_objective(cfg: TrainConfig, num_classes: int) -> CrossMoSTObjective:
    """``CrossMoSTObjective`` from ``cfg.objective`` for ``num_classes`` classes, with the ablation switches
    applied."""
    return CrossMoSTObjective(cfg.objective.loss_config(), num_classes=num_classes)


# ---------------------------------------------------------------------------------------------- data and loaders
def train_augment(cfg: TrainConfig, shape: DataShape) -> AugmentConfig:
    """The ``crossmost_data.loader.AugmentConfig`` of training: the official pipelines with the fields of
    ``data.image_augment`` / ``data.point_augment`` changed, and block masks on the patch grid of ``shape``."""
    return AugmentConfig(
        image=apply_section(ImageAugmentConfig(), cfg.data.image_augment, "data.image_augment"),
        points=apply_section(PointAugmentConfig(), cfg.data.point_augment, "data.point_augment"),
        mask=MaskConfig(
            mask_patch_size=shape.patch_size * cfg.data.mask_block_patches,
            model_patch_size=shape.patch_size,
            mask_ratio=cfg.data.image_mask_ratio,
        ),
    )


def loader_config(cfg: TrainConfig) -> LoaderConfig:
    """The :class:`crossmost_data.loader.LoaderConfig` of the ``data`` section."""
    d = cfg.data
    try:
        return LoaderConfig(
            d.root,
            seed=d.seed,
            on_corrupt=d.on_corrupt,
            max_unreadable=d.max_unreadable,
            num_workers=d.num_workers,
            streaming=d.streaming,
            shuffle_buffer=d.shuffle_buffer,
        )
    except ValueError as error:
        raise ConfigError(str(error).replace("LoaderConfig.", "data.")) from None


def open_prepared_data(cfg: TrainConfig) -> PreparedData:
    """``data.root`` opened (its manifest read once and checked; from its URL with ``data.streaming``).

    Raises:
        ConfigError: ``data.root`` is not set, or is a URL without ``data.streaming``.
        DataError: it is not a folder, or not a usable prepared dataset.
    """
    root = cfg.data.root
    if not root:
        raise ConfigError("data.root is not set: pass data.root=<folder made by crossmost-data render/synth>")
    if not cfg.data.streaming and not Path(root).is_dir():
        raise DataError(f"data.root={root!r} is not a folder (prepare one with `crossmost-data render ...`)")
    try:
        return PreparedData(loader_config(cfg))
    except PreparedDataError as error:
        raise DataError(str(error)) from None


class RunBuilder:
    """Builds the parts of one run from its config, with the :class:`Components` given in their place.

    The prepared dataset folder is opened at most once (on first need, and only by the default builders).

    Args:
        cfg: the run's configuration.
        components: builders that replace the defaults.
    """

    def __init__(self, cfg: TrainConfig, components: Components | None = None) -> None:
        self.cfg = cfg
        self.components = components or Components()
        self._data: PreparedData | None = None

    @property
    def data(self) -> PreparedData:
        """``data.root``, opened on first use (see :func:`open_prepared_data`)."""
        if self._data is None:
            self._data = open_prepared_data(self.cfg)
        return self._data

    def classnames(self) -> list[str]:
        """The class names: ``model.classnames`` and the manifest's, which must agree (:func:`resolve_classnames`)."""
        if self.components.classnames is not None:
            return self.components.classnames(self.cfg)
        return resolve_classnames(self.cfg.model.classnames, self.data.class_names)

    def model(self, classnames: Sequence[str]) -> nn.Module:
        """The model for ``classnames`` (:func:`build_model` by default)."""
        build = self.components.model or build_model
        return build(self.cfg, classnames)

    def train_dataset(self, shape: DataShape, outputs: Collection[str] | None = None) -> Dataset[Sample]:
        """The training split in ``mode="train"`` (weak/strong pairs, block masks on the patch grid of ``shape``),
        with only the training entries in ``outputs`` when given (pre-training reads the weak views alone; a
        dataset of :class:`Components` gets every entry)."""
        if self.components.train_dataset is not None:
            return self.components.train_dataset(self.cfg, shape)
        d = self.cfg.data
        return self._shard_dataset(
            d.train_split,
            mode="train",
            views_subset=d.views_per_object or None,
            augment=train_augment(self.cfg, shape),
            image_size=shape.image_size,
            num_points=shape.num_points,
            train_outputs=outputs,
            use_colors=self._colors(shape),
        )

    def eval_dataset(self, shape: DataShape) -> Dataset[Sample]:
        """The evaluation split with every view (``view_policy="all"``, ``image`` = view ``data.eval_view``)."""
        if self.components.eval_dataset is not None:
            return self.components.eval_dataset(self.cfg, shape)
        d = self.cfg.data
        return self._shard_dataset(
            d.eval_split,
            mode="eval",
            view_policy="all",
            fixed_view=d.eval_view,
            image_size=shape.image_size,
            num_points=shape.num_points,
            use_colors=self._colors(shape),
        )

    def _colors(self, shape: DataShape) -> bool:
        """Whether the clouds carry the dataset's colours: the tower reads rgb and the folder stores it."""
        return shape.point_colors and self.data.manifest.point_layout == "xyzrgb"

    def _shard_dataset(self, split: str, **options: Any) -> Dataset[Sample]:
        """A dataset of ``split`` of the opened folder; a split that cannot be used is a :class:`DataError` in one
        line; what indexing left out is printed (main process)."""
        try:
            dataset = self.data.dataset(split, **options)
        except PreparedDataError as error:
            raise DataError(str(error)) from None
        if PartialState().is_main_process:
            for skipped in dataset.skipped:
                print(f"[crossmost] left out when indexing {self.cfg.data.root}: {split}: {skipped}", file=sys.stderr)
        return dataset

    def train_loader(
        self, dataset: Dataset[Sample], *, batch_size: int, grad_accum_steps: int, accelerator: Accelerator
    ) -> tuple[DataLoader[Sample], GlobalBatchSampler | StreamingEpochs]:
        """This process's share of each global batch, with a resumable sampler
        (:func:`crossmost_data.loader.build_train_loader`).

        Raises:
            ConfigError: the dataset holds fewer samples than one global batch.
        """
        try:
            return build_train_loader(
                dataset,
                loader_config(self.cfg),
                batch_size=batch_size,
                grad_accum_steps=grad_accum_steps,
                num_replicas=accelerator.num_processes,
                rank=accelerator.process_index,
                pin_memory=accelerator.device.type == "cuda",
            )
        except ValueError as error:
            raise ConfigError(f"{self.cfg.data.root or 'the training set'}: {error}") from None

    def eval_loader(self, dataset: Dataset[Sample], accelerator: Accelerator) -> DataLoader[Sample]:
        """An unpadded sharded loader: each sample is scored once across processes
        (:func:`crossmost_data.loader.build_eval_loader`).

        Raises:
            ConfigError: a streamed split has fewer shards than processes.
        """
        try:
            return build_eval_loader(
                dataset,
                loader_config(self.cfg),
                batch_size=self.cfg.eval.batch_size,
                num_replicas=accelerator.num_processes,
                rank=accelerator.process_index,
                pin_memory=accelerator.device.type == "cuda",
            )
        except ValueError as error:
            raise ConfigError(f"{self.cfg.data.root or 'the evaluation set'}: {error}") from None

    def objective(self, num_classes: int) -> CrossMoSTObjective:
        """The objective for ``num_classes`` classes (:func:`build_objective`)."""
        return build_objective(self.cfg, num_classes)
