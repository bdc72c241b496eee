"""The frozen parts of a model and its layer ids for the optimiser (the tokenizer frozen, BatchNorm modes, ViT
layer ids).

The rest of what this module held moved: the run's parts are built by :mod:`crossmost_train.run_builder` (class
names, model, datasets, loaders, objective, ``Components``), the loaders themselves are crossmost-data's
(:mod:`crossmost_data.loader`), and the Accelerator and the batch arithmetic are in
:mod:`crossmost_train.accelerator_setup`. The moved names still import from here for one release, with a
``DeprecationWarning``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from crossmost_models._deprecated import moved_names
from crossmost_train import accelerator_setup, run_builder, unreadable
from crossmost_train.config import TrainConfig

__getattr__ = moved_names(
    __name__,
    {
        **{
            name: ("crossmost_train.run_builder", getattr(run_builder, name))
            for name in (
                "Components",
                "DataError",
                "DataShape",
                "build_model",
                "build_objective",
                "data_shape",
                "resolve_classnames",
                "train_augment",
            )
        },
        **{
            name: ("crossmost_train.accelerator_setup", getattr(accelerator_setup, name))
            for name in ("build_accelerator", "per_device_batch", "resolve_mixed_precision")
        },
        "skipped_at_indexing": ("crossmost_train.unreadable", unreadable.skipped_at_indexing),
    },
)


def point_tokenizer(model: nn.Module) -> nn.Module:
    """The mini-PointNet tokenizer of the point tower."""
    encoder: Any = model.point_encoder
    tokenizer: nn.Module = encoder.encoder
    return tokenizer


def freeze_frozen_parts(model: nn.Module, cfg: TrainConfig) -> None:
    """``requires_grad=False`` on the tokenizer (spec §1.1); its BatchNorm statistics are fixed by
    :func:`set_train_mode` when ``model.freeze_tokenizer_batchnorm``."""
    if cfg.model.freeze_point_tokenizer:
        point_tokenizer(model).requires_grad_(False)


def set_train_mode(model: nn.Module, cfg: TrainConfig) -> None:
    """``model.train()``, keeping the frozen tokenizer's BatchNorm layers in eval mode when configured."""
    model.train()
    if cfg.model.freeze_point_tokenizer and cfg.model.freeze_tokenizer_batchnorm:
        point_tokenizer(model).eval()


def image_num_layers(model: nn.Module) -> int:
    """Number of ViT blocks (for layer-wise lr decay)."""
    return int(model.image_num_layers)  # type: ignore[arg-type]


def layer_id_fn(model: nn.Module) -> Callable[[str, int], int]:
    """Layer ids for :func:`crossmost_train.optim.build_param_groups`: the ViT's via ``vit_layer_id``, and
    ``num_layers + 1`` (scale 1) for every parameter outside the image tower."""
    from crossmost_models import vit_layer_id

    prefixes = tuple(f"{n}." for n, _ in model.named_children() if n.startswith("image"))

    def layer_id(name: str, num_layers: int) -> int:
        if name.startswith(prefixes):
            return int(vit_layer_id(name, num_layers))
        return num_layers + 1

    return layer_id
