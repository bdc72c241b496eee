"""Building the pieces a command needs from a :class:`TrainConfig`: the manifest and class names, the model (with
its frozen parts), datasets and loaders, the objective. The Accelerator and the batch arithmetic live in
:mod:`crossmost_train.accelerator_setup` (re-exported here).

This module is the one place that calls ``crossmost_models``, ``crossmost_data`` and ``crossmost_losses``
constructors, so the commands stay short.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn
from torch.utils.data import DataLoader, Dataset

import crossmost_models
from crossmost_train.accelerator_setup import build_accelerator as build_accelerator
from crossmost_train.accelerator_setup import per_device_batch as per_device_batch
from crossmost_train.accelerator_setup import resolve_mixed_precision as resolve_mixed_precision
from crossmost_train.config import ConfigError, TrainConfig, apply_section
from crossmost_train.memory import train_mode, trainable_plan

if TYPE_CHECKING:
    from crossmost_data.loader import AugmentConfig, GlobalBatchSampler
    from crossmost_losses import CrossMoSTObjective


class DataError(RuntimeError):
    """The prepared dataset is missing, corrupt or does not fit the run's configuration."""


# ----------------------------------------------------------------------------------------------- data and classes
def read_manifest(root: str | os.PathLike[str]) -> Any:
    """The dataset's ``Manifest`` (clear errors for a missing folder or a corrupt manifest)."""
    from crossmost_data.format.manifest import Manifest

    if not str(root):
        raise ConfigError("data.root is not set: pass data.root=<folder made by crossmost-data render/synth>")
    path = Path(root)
    if not path.is_dir():
        raise DataError(f"data.root={str(root)!r} is not a folder (prepare one with `crossmost-data render ...`)")
    try:
        manifest = Manifest.read(path)
    except FileNotFoundError as err:
        raise DataError(f"{path} holds no manifest.json: not a prepared crossmost dataset ({err})") from None
    except ValueError as err:
        raise DataError(f"{path}/manifest.json is not valid: {err}") from None
    changed = manifest.class_names_problem()
    if changed:
        raise DataError(f"{path}/manifest.json: {changed}")
    return manifest


def check_shards(manifest: Any, root: str | os.PathLike[str], split: str) -> None:
    """Every shard the manifest lists for ``split`` exists with its recorded size class (size > 0)."""
    if split not in manifest.splits:
        raise DataError(f"{root}: the dataset has no split {split!r} (it has {', '.join(manifest.splits)})")
    missing = [s.file for s in manifest.shards(split) if not (Path(root) / s.file).is_file()]
    if missing:
        raise DataError(
            f"{root}: {len(missing)} shard(s) of split {split!r} are missing: {', '.join(missing[:5])}"
            " (re-run the preparation or copy the files)"
        )


def resolve_classnames(configured: Sequence[str], manifest: Any | None) -> list[str]:
    """The classifier's class names: the configured ones must equal the manifest's (same names, same order)."""
    dataset = list(manifest.class_names) if manifest is not None else []
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
    """``create_model`` with the configured name, weights, templates and overrides (what trains is set by
    :func:`crossmost_train.memory.prepare_student`)."""
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


# Former homes of the model's training parts, kept for one release: the model side is in crossmost_models
# (parts, trainable), the run side in crossmost_train.memory.
def _moved(name: str, home: str) -> None:
    warnings.warn(
        f"crossmost_train.wiring.{name} is deprecated and will be removed in the next release; use {home}",
        DeprecationWarning,
        stacklevel=3,
    )


def point_tokenizer(model: nn.Module) -> nn.Module:
    """Deprecated: :func:`crossmost_models.point_tokenizer`."""
    _moved("point_tokenizer", "crossmost_models.point_tokenizer")
    return crossmost_models.point_tokenizer(model)


def freeze_frozen_parts(model: nn.Module, cfg: TrainConfig) -> None:
    """Deprecated: :func:`crossmost_train.memory.prepare_student` (the run's whole memory plan)."""
    _moved("freeze_frozen_parts", "crossmost_train.memory.prepare_student")
    crossmost_models.apply_trainable_plan(model, trainable_plan(cfg))


def set_train_mode(model: nn.Module, cfg: TrainConfig) -> None:
    """Deprecated: :func:`crossmost_train.memory.train_mode`."""
    _moved("set_train_mode", "crossmost_train.memory.train_mode")
    train_mode(model, cfg)


def image_num_layers(model: nn.Module) -> int:
    """Deprecated: :func:`crossmost_models.image_num_layers`."""
    _moved("image_num_layers", "crossmost_models.image_num_layers")
    return crossmost_models.image_num_layers(model)


def layer_id_fn(model: nn.Module) -> Callable[[str, int], int]:
    """Deprecated: :func:`crossmost_models.layer_id_fn`."""
    _moved("layer_id_fn", "crossmost_models.layer_id_fn")
    return crossmost_models.layer_id_fn(model)


# ------------------------------------------------------------------------------------------------- the objective
def build_objective(cfg: TrainConfig) -> CrossMoSTObjective:
    """``CrossMoSTObjective`` from ``cfg.objective``, with the ablation switches applied."""
    from crossmost_losses import CrossMoSTObjective

    return CrossMoSTObjective(cfg.objective.loss_config())


# ---------------------------------------------------------------------------------------------- datasets, loaders
@dataclass(frozen=True)
class DataShape:
    """What the loader must produce for a model: image size, ViT patch size (mask grid) and points per cloud."""

    image_size: int | None
    patch_size: int
    num_points: int | None


def data_shape(cfg: TrainConfig, model: nn.Module) -> DataShape:
    """The :class:`DataShape` of a ``CrossModalModel`` (``data.num_points`` overrides the model's)."""
    image_size = getattr(model, "image_size", None)
    config = getattr(model, "config", None)
    patch = int(getattr(getattr(model, "image_tower", None), "patch_size", 16))
    num_points = cfg.data.num_points or int(getattr(config, "num_points", 0) or 0) or None
    return DataShape(int(image_size[0]) if image_size else None, patch, num_points)


def train_augment(cfg: TrainConfig, shape: DataShape) -> AugmentConfig:
    """The ``crossmost_data.loader.AugmentConfig`` of training: the official pipelines with the fields of
    ``data.image_augment`` / ``data.point_augment`` changed, and block masks on the patch grid of ``shape``."""
    from crossmost_data.loader import AugmentConfig, ImageAugmentConfig, MaskConfig, PointAugmentConfig

    return AugmentConfig(
        image=apply_section(ImageAugmentConfig(), cfg.data.image_augment, "data.image_augment"),
        points=apply_section(PointAugmentConfig(), cfg.data.point_augment, "data.point_augment"),
        mask=MaskConfig(
            mask_patch_size=shape.patch_size * cfg.data.mask_block_patches,
            model_patch_size=shape.patch_size,
            mask_ratio=cfg.data.image_mask_ratio,
        ),
    )


def skipped_at_indexing(*datasets: Any) -> list[str]:
    """What each dataset left out when it indexed its shards (``ShardDataset.skipped``), one line per shard."""
    lines: list[str] = []
    for dataset in datasets:
        split = getattr(dataset, "split", "")
        lines += [f"{split}: {entry}" if split else str(entry) for entry in getattr(dataset, "skipped", [])]
    return list(dict.fromkeys(lines))


def _shard_dataset(cfg: TrainConfig, split: str, **options: Any) -> Dataset[Any]:
    """A ``ShardDataset`` of ``split`` with the run's damage settings; a split that cannot be used is a
    :class:`DataError` in one line."""
    from accelerate import PartialState

    from crossmost_data.format import ShardCorruptError
    from crossmost_data.loader import ShardDataset

    check_shards(read_manifest(cfg.data.root), cfg.data.root, split)
    try:
        dataset = ShardDataset(
            cfg.data.root,
            split,
            seed=cfg.data.seed,
            on_corrupt=cfg.data.on_corrupt,
            max_unreadable=cfg.data.max_unreadable,
            log_skipped=False,
            **options,
        )
    except ShardCorruptError as error:
        raise DataError(str(error)) from None
    except ValueError as error:  # a setting the prepared data cannot serve, such as more points than it stores
        raise DataError(f"{cfg.data.root} split {split!r}: {error}") from None
    if PartialState().is_main_process:
        for line in skipped_at_indexing(dataset):
            print(f"[crossmost] left out when indexing {cfg.data.root}: {line}", file=sys.stderr)
    return dataset


def shard_train_dataset(cfg: TrainConfig, shape: DataShape, outputs: Collection[str] | None = None) -> Dataset[Any]:
    """The training split in ``mode="train"`` (weak/strong pairs, block masks on the patch grid of ``shape``), with
    only the training entries in ``outputs`` when given (pre-training reads the weak views alone)."""
    return _shard_dataset(
        cfg,
        cfg.data.train_split,
        mode="train",
        views_subset=cfg.data.views_per_object or None,
        augment=train_augment(cfg, shape),
        image_size=shape.image_size,
        num_points=shape.num_points,
        train_outputs=outputs,
    )


def train_dataset(cfg: TrainConfig, model: nn.Module) -> Dataset[Any]:
    """The training split shaped for ``model``."""
    return shard_train_dataset(cfg, data_shape(cfg, model))


def eval_dataset(cfg: TrainConfig, model: nn.Module, split: str | None = None) -> Dataset[Any]:
    """An evaluation split with every view (``view_policy="all"``, ``image`` = view ``data.eval_view``)."""
    shape = data_shape(cfg, model)
    return _shard_dataset(
        cfg,
        split or cfg.data.eval_split,
        mode="eval",
        view_policy="all",
        fixed_view=cfg.data.eval_view,
        image_size=shape.image_size,
        num_points=shape.num_points,
    )


def train_loader(
    dataset: Dataset[Any], cfg: TrainConfig, *, batch_size: int, grad_accum_steps: int, accelerator: Any
) -> tuple[DataLoader[Any], GlobalBatchSampler]:
    """A loader over this process's share of each global batch, with a resumable sampler.

    Raises:
        ConfigError: the dataset holds fewer samples than one global batch.
    """
    from crossmost_data.loader import GlobalBatchSampler

    try:
        sampler = GlobalBatchSampler(
            len(dataset),  # type: ignore[arg-type]
            batch_size=batch_size,
            grad_accum_steps=grad_accum_steps,
            num_replicas=accelerator.num_processes,
            rank=accelerator.process_index,
            seed=cfg.data.seed,
        )
    except ValueError as error:
        raise ConfigError(f"{cfg.data.root or 'the training set'}: {error}") from None
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.data.num_workers,
        drop_last=True,
        pin_memory=accelerator.device.type == "cuda",
        persistent_workers=False,
    )
    return loader, sampler


def eval_loader(dataset: Dataset[Any], cfg: TrainConfig, accelerator: Any) -> DataLoader[Any]:
    """An unpadded sharded loader: each sample is scored once across processes."""
    from crossmost_data.loader import ShardedEvalSampler

    sampler = ShardedEvalSampler(
        len(dataset),  # type: ignore[arg-type]
        accelerator.num_processes,
        accelerator.process_index,
    )
    return DataLoader(
        dataset,
        batch_size=cfg.eval.batch_size,
        sampler=sampler,
        num_workers=cfg.data.num_workers,
        pin_memory=accelerator.device.type == "cuda",
    )


# ------------------------------------------------------------------------------------------------ injectable parts
def dataset_classnames(cfg: TrainConfig) -> list[str]:
    """Class names from ``model.classnames`` and the manifest of ``data.root`` (which must agree)."""
    return resolve_classnames(cfg.model.classnames, read_manifest(cfg.data.root))


@dataclass
class Components:
    """The builders a run uses; replace any of them to self-train your own model or dataset from Python.

    Attributes:
        classnames: config → class names (default: manifest of ``data.root``, checked against ``model.classnames``).
        model: (config, class names) → a model with the ``CrossModalModel`` interface.
        train_dataset: (config, model) → training dataset (``mode="train"`` samples, ``set_epoch``).
        eval_dataset: (config, model) → evaluation dataset (``mode="eval"`` samples with ``views``).
    """

    classnames: Callable[[TrainConfig], list[str]] = dataset_classnames
    model: Callable[[TrainConfig, Sequence[str]], nn.Module] = build_model
    train_dataset: Callable[[TrainConfig, nn.Module], Dataset[Any]] = train_dataset
    eval_dataset: Callable[[TrainConfig, nn.Module], Dataset[Any]] = eval_dataset
