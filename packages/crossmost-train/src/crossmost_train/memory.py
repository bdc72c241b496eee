"""The run's memory plan (``memory.*`` with ``model.freeze_point_tokenizer`` / ``freeze_tokenizer_batchnorm``) as
the model-side :class:`crossmost_models.TrainablePlan`, applied to a student before its teacher is made."""

from __future__ import annotations

from typing import Any

from torch import nn

from crossmost_models import TrainablePlan, TrainableReport, apply_trainable_plan, set_activation_checkpointing
from crossmost_models import set_train_mode as set_plan_train_mode
from crossmost_train.config import ConfigError, TrainConfig

__all__ = ["announce", "prepare_student", "train_mode", "trainable_plan"]


def trainable_plan(cfg: TrainConfig) -> TrainablePlan:
    """The :class:`~crossmost_models.TrainablePlan` of ``cfg``."""
    return TrainablePlan(
        mode=cfg.memory.trainable,
        last_blocks=cfg.memory.last_blocks,
        lora_rank=cfg.memory.lora_rank,
        lora_alpha=cfg.memory.lora_alpha,
        freeze_point_tokenizer=cfg.model.freeze_point_tokenizer,
        freeze_tokenizer_batchnorm=cfg.model.freeze_tokenizer_batchnorm,
    )


def prepare_student(model: nn.Module, cfg: TrainConfig) -> TrainableReport:
    """Apply the memory plan to the student in place: which parameters train (adapters added for ``lora``) and
    activation checkpointing. Call it before the EMA teacher is made and before ``accelerator.prepare``.

    Raises:
        ConfigError: a plan that needs the towers' blocks on a model whose blocks are not known.
    """
    try:
        report = apply_trainable_plan(model, trainable_plan(cfg))
        if cfg.memory.activation_checkpointing:
            set_activation_checkpointing(model)
    except (TypeError, AttributeError) as err:
        plan = f"memory.trainable={cfg.memory.trainable!r}"
        raise ConfigError(f"the memory plan ({plan}) does not fit the model: {err}") from None
    return report


def train_mode(model: nn.Module, cfg: TrainConfig) -> None:
    """The student's training modes: ``model.train()`` with a frozen tokenizer's BatchNorm kept in eval mode when
    configured."""
    set_plan_train_mode(model, trainable_plan(cfg))


def announce(report: TrainableReport, accelerator: Any) -> None:
    """Print the report's lines on the main process."""
    for line in report.lines():
        accelerator.print(f"[crossmost] {line}")
