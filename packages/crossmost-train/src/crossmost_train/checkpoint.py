"""Atomic, resumable checkpoints of a run (``<run>/checkpoints/step-NNNNNNNN``) that never unpickle.

Every part of the run state is a safetensors file whose non-tensor values are JSON (:mod:`crossmost_train.run_state`):
``model.safetensors`` (the student), ``teacher.safetensors``, ``optimizer.safetensors``, ``scheduler.safetensors``,
``scaler.safetensors`` (fp16 only) and one ``rng-<rank>.safetensors`` per process. They are written into a hidden
temporary folder; the main process then writes ``meta.json`` (the format, the :class:`TrainingProgress` and the
parameter shapes, to refuse a checkpoint of another architecture with a readable message) and renames the folder
into place, so a checkpoint either exists completely or not at all. Only the newest ``keep_last`` are kept. A folder
in any other format (for example Accelerate's pickled ``optimizer.bin`` and ``random_states_*.pkl``) is refused
before anything in it is read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn

from crossmost_train.run_state import (
    StateFileError,
    capture_rng_state,
    load_state_file,
    restore_rng_state,
    save_state_file,
)

if TYPE_CHECKING:
    from accelerate import Accelerator

CHECKPOINT_DIR = "checkpoints"
FORMAT = "crossmost-run-state"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step-(\d{8})$")
_PICKLED_SUFFIXES = (".bin", ".pkl", ".pt", ".pth")


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


class Stateful(Protocol):
    """A part of the run state: the optimiser, the schedule, the EMA teacher, the gradient scaler."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any, /) -> Any: ...


@dataclass
class RunState:
    """The objects a checkpoint saves and restores.

    Attributes:
        model: the unwrapped student.
        optimizer: the (possibly Accelerate-wrapped) optimiser.
        teacher: the EMA teacher (``state_dict`` / ``load_state_dict``).
        scheduler: the learning-rate schedule.
        progress: the data position and step count.
        scaler: the fp16 gradient scaler, if any.
        objective: the objective, saved when it has state (the running class priors of ``align_class_prior``).
    """

    model: nn.Module
    optimizer: Stateful
    teacher: Stateful
    scheduler: Stateful
    progress: TrainingProgress
    scaler: Stateful | None = None
    objective: nn.Module | None = None

    def parts(self) -> dict[str, Stateful]:
        """File stem → object of every part saved by the main process."""
        parts = {"teacher": self.teacher, "optimizer": self.optimizer, "scheduler": self.scheduler}
        if self.scaler is not None:
            parts["scaler"] = self.scaler
        if self.objective is not None and self.objective.state_dict():
            parts["objective"] = self.objective
        return parts


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
    accelerator: Accelerator, run_dir: str | os.PathLike[str], state: RunState, *, keep_last: int
) -> Path:
    """Write ``checkpoints/step-N`` atomically on every process, then prune to the newest ``keep_last``.

    Args:
        accelerator: the run's ``Accelerator``.
        run_dir: the run folder.
        state: what to save (the main process saves the model, teacher, optimiser, scheduler and scaler; every
            process its random states).
        keep_last: number of checkpoints kept (at least 1).
    """
    progress = state.progress
    folder = Path(run_dir) / CHECKPOINT_DIR
    final = folder / f"step-{progress.global_step:08d}"
    tmp = folder / f".tmp-step-{progress.global_step:08d}"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    accelerator.wait_for_everyone()
    save_state_file(tmp / f"rng-{accelerator.process_index}.safetensors", capture_rng_state())
    if accelerator.is_main_process:
        save_state_file(tmp / "model.safetensors", state.model.state_dict())
        for stem, part in state.parts().items():
            save_state_file(tmp / f"{stem}.safetensors", part.state_dict())
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **progress.state_dict(),
            "num_processes": accelerator.num_processes,
            "model_name": meta_model_name(state.model),
            "parameter_shapes": parameter_shapes(state.model),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(run_dir)[: -max(1, keep_last)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def check_format(path: str | os.PathLike[str]) -> None:
    """Refuse, before reading any of it, a checkpoint folder that is not in crossmost's pickle-free format."""
    meta = read_meta(path)
    if meta.get("format") != FORMAT:
        pickled = sorted(p.name for p in Path(path).iterdir() if p.suffix in _PICKLED_SUFFIXES)
        found = f" (it holds pickled files: {', '.join(pickled[:4])})" if pickled else ""
        raise CheckpointError(
            f"{path} is not a {FORMAT} checkpoint{found}. crossmost never unpickles run state, because loading a "
            "pickle can run code; resume only from checkpoints written by this version, or start afresh with "
            "run.resume=never"
        )
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has run-state format version {meta['format_version']}; this crossmost-train reads up to "
            f"{FORMAT_VERSION}: upgrade crossmost-train"
        )


def _load_part(path: Path) -> Any:
    try:
        return load_state_file(path)
    except StateFileError as error:
        raise CheckpointError(f"cannot resume: {error}") from None


def _load_model(path: Path, model: nn.Module) -> None:
    saved = _load_part(path)
    if not isinstance(saved, dict):
        raise CheckpointError(f"cannot resume: {path} does not hold a state dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        detail = [f"{len(missing)} missing, e.g. {', '.join(missing[:3])}"] if missing else []
        detail += [f"{len(unexpected)} unexpected, e.g. {', '.join(unexpected[:3])}"] if unexpected else []
        raise CheckpointError(f"cannot resume: {path} does not match the model's tensors ({'; '.join(detail)})")
    try:
        model.load_state_dict(saved, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"cannot resume: {path} does not fit the model ({error})") from None


def load_checkpoint(accelerator: Accelerator, path: str | os.PathLike[str], state: RunState) -> None:
    """Restore ``state`` (and this process's random states) from a checkpoint folder written by
    :func:`save_checkpoint`. Only JSON and safetensors are read.

    Raises:
        CheckpointError: the folder is in another format, was written by another architecture, or a part is
            missing, truncated or does not fit; the message names the file.
    """
    folder = Path(path)
    check_format(folder)
    check_architecture(folder, state.model)
    meta = read_meta(folder)
    _load_model(folder / "model.safetensors", state.model)
    for stem, part in state.parts().items():
        file = folder / f"{stem}.safetensors"
        try:
            part.load_state_dict(_load_part(file))
        except (KeyError, ValueError, TypeError, RuntimeError) as error:
            raise CheckpointError(f"cannot resume: {file} does not fit this run ({error})") from None
    try:
        state.progress.load_state_dict(meta)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"cannot resume: {folder / 'meta.json'} lacks the training progress ({error})") from None
    rng = folder / f"rng-{accelerator.process_index}.safetensors"
    if rng.is_file():  # a run resumed on more processes than it was saved from seeds the new ones afresh
        try:
            restore_rng_state(_load_part(rng))
        except (KeyError, ValueError, TypeError, RuntimeError) as error:
            raise CheckpointError(f"cannot resume: {rng} does not hold random states ({error})") from None


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
    check_format(path)
    return path
