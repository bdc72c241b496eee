"""Former home of the pieces a command builds, kept for one release so that old imports still work.

Everything it held moved, and importing a name from here warns with its new home: the run's parts are built by
:mod:`crossmost_train.run_builder` (class names, model, datasets, loaders, objective, ``Components``), the loaders
themselves are crossmost-data's (:mod:`crossmost_data.loader`), the Accelerator and the batch arithmetic are in
:mod:`crossmost_train.accelerator_setup`, the frozen parts and training modes are the memory plan's
(:mod:`crossmost_train.memory`), and a model's tokenizer, layer count and layer ids are crossmost-models'.
"""

from __future__ import annotations

from torch import nn

import crossmost_models
from crossmost_models._deprecated import moved_names, warn_moved
from crossmost_train import accelerator_setup, memory, run_builder, unreadable
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
        **{
            name: ("crossmost_models", getattr(crossmost_models, name))
            for name in ("point_tokenizer", "image_num_layers", "layer_id_fn")
        },
        "set_train_mode": ("crossmost_train.memory (as train_mode)", memory.train_mode),
        "skipped_at_indexing": ("crossmost_train.unreadable", unreadable.skipped_at_indexing),
    },
)


def freeze_frozen_parts(model: nn.Module, cfg: TrainConfig) -> None:
    """Deprecated: :func:`crossmost_train.memory.prepare_student` applies the run's whole memory plan."""
    warn_moved(f"{__name__}.freeze_frozen_parts", "crossmost_train.memory.prepare_student")
    crossmost_models.apply_trainable_plan(model, memory.trainable_plan(cfg))
