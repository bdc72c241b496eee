"""Atomic, resumable checkpoints of a run (``<run>/checkpoints/step-NNNNNNNN``).

Every process calls ``accelerator.save_state`` into a hidden temporary folder (model, optimiser, per-process RNG
states and the registered objects: teacher, scheduler, :class:`TrainingProgress`); the main process then writes
``meta.json`` (the parameter shapes, to refuse a checkpoint of another architecture with a readable message) and
renames the folder into place, so a checkpoint either exists completely or not at all. Only the newest
``keep_last`` are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d{8})$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or does not belong to this model."""


@dataclass
class TrainingProgress:
    """Where the loop stands: the data position and the optimiser-step count (checkpointed)."""

    epoch: int = 0
    batches_in_epoch: int = 0
    """Micro-batches of ``epoch`` already consumed by this process."""
    global_step: int = 0
    """Optimiser steps done."""
    skipped_empty: int = 0
    """Micro-batches in which no sample passed the pseudo-label threshold."""

    def state_dict(self) -> dict[str, int]:
        """Plain integers for ``accelerator.register_for_checkpointing``."""
        return {
            "epoch": self.epoch,
            "batches_in_epoch": self.batches_in_epoch,
            "global_step": self.global_step,
            "skipped_empty": self.skipped_empty,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
        self.batches_in_epoch = int(state["batches_in_epoch"])
        self.global_step = int(state["global_step"])
        self.skipped_empty = int(state.get("skipped_empty", 0))


def parameter_shapes(model: nn.Module) -> dict[str, list[int]]:
    """Name → shape of every parameter and buffer: the architecture fingerprint stored with a checkpoint."""
    shapes = {n: list(p.shape) for n, p in model.named_parameters()}
    shapes.update({n: list(b.shape) for n, b in model.named_buffers()})
    return shapes


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / "meta.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def checkpoint_step(path: str | os.PathLike[str]) -> int:
    """The optimiser step a checkpoint folder was written at."""
    meta = read_meta(path)
    return int(meta["global_step"])


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``meta.json`` of a checkpoint folder (raises :class:`CheckpointError` if it is not a complete checkpoint)."""
    meta_path = Path(path) / "meta.json"
    if not meta_path.is_file():
        raise CheckpointError(f"{path} is not a complete crossmost checkpoint (no meta.json)")
    try:
        return dict(json.loads(meta_path.read_text()))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{meta_path} is corrupt: {err}") from None


def check_architecture(path: str | os.PathLike[str], model: nn.Module) -> None:
    """Raise a readable :class:`CheckpointError` when the checkpoint was written by another architecture."""
    meta = read_meta(path)
    saved: dict[str, list[int]] = meta.get("parameter_shapes", {})
    current = parameter_shapes(model)
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    mismatched = sorted(k for k in set(saved) & set(current) if saved[k] != current[k])
    if missing or unexpected or mismatched:
        lines = [
            f"checkpoint {path} was written by another architecture "
            f"(model {meta.get('model_name', '?')!r}; this run builds {meta_model_name(model)!r}):"
        ]
        if mismatched:
            lines.append(
                f"  {len(mismatched)} shape mismatches, e.g. "
                + ", ".join(f"{k}: {saved[k]} vs {current[k]}" for k in mismatched[:3])
            )
        if missing:
            lines.append(f"  {len(missing)} tensors missing from the checkpoint, e.g. {', '.join(missing[:3])}")
        if unexpected:
            lines.append(f"  {len(unexpected)} unexpected tensors, e.g. {', '.join(unexpected[:3])}")
        raise CheckpointError("\n".join(lines))


def meta_model_name(model: nn.Module) -> str:
    """The registry name a model was built from, when it records one."""
    config = getattr(model, "config", None)
    return str(getattr(config, "name", type(model).__name__))


def save_checkpoint(
    accelerator: Any,
    run_dir: str | os.PathLike[str],
    *,
    model: nn.Module,
    progress: TrainingProgress,
    keep_last: int,
) -> Path:
    """Write ``checkpoints/step-N`` atomically on every process, then prune to the newest ``keep_last``.

    Args:
        accelerator: the run's ``Accelerator`` (its registered objects are saved with it).
        run_dir: the run folder.
        model: the unwrapped student (for the architecture fingerprint).
        progress: the current :class:`TrainingProgress`.
        keep_last: number of checkpoints kept (at least 1).
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    final = folder / f"step-{progress.global_step:08d}"
    tmp = folder / f".tmp-step-{progress.global_step:08d}"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        meta = {
            "global_step": progress.global_step,
            "epoch": progress.epoch,
            "batches_in_epoch": progress.batches_in_epoch,
            "num_processes": accelerator.num_processes,
            "model_name": meta_model_name(model),
            "parameter_shapes": parameter_shapes(model),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(run_dir)[: -max(1, keep_last)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resolve_resume(run_dir: str | os.PathLike[str], resume: str) -> Path | None:
    """The checkpoint to resume from: ``auto`` (newest in the run folder, if any), ``never``, or a path."""
    if resume in ("never", ""):
        return None
    if resume == "auto":
        found = list_checkpoints(run_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not path.is_dir():
        raise CheckpointError(f"run.resume={resume!r}: no such checkpoint folder")
    read_meta(path)
    return path
