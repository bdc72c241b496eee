"""The one training loop: ``fit()`` runs a task's step function over the loader until the schedule ends.

The loop owns what every kind of training shares: epochs and the resumable position in them, gradient
accumulation, the non-finite check, the progress bar, the metrics log, checkpoints and periodic evaluation.
A task (self-training, CLIP or ULIP pre-training) supplies what differs: one micro-step (forward, loss,
backward, optimiser step), what follows an optimiser step, and what its log line says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from accelerate import Accelerator
from torch import Tensor, nn

from crossmost_data.loader import Sample
from crossmost_train.checkpoint import RunState, TrainingProgress, save_checkpoint
from crossmost_train.logging_utils import MetricsLog
from crossmost_train.unreadable import UnreadableSamples

LogRecord = dict[str, float]
"""A ``train`` line of the metrics log: values by name (counts such as the epoch are whole numbers)."""


def batch_to_device(batch: Sample, device: torch.device) -> Sample:
    """The tensors of ``batch`` on ``device`` (asynchronous copies from pinned memory); other entries as they are."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite (with a checkpoint of the last good step where the run keeps them)."""


@dataclass
class StepValues:
    """Host-side values of one micro-batch, averaged over processes."""

    loss: float
    terms: dict[str, float]
    diagnostics: dict[str, float]
    nonfinite_terms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LogWindow:
    """The micro-batches since the last log line: the mean of their values, the last one's, and the throughput."""

    mean: dict[str, float]
    last: StepValues
    samples_per_s: float


class TrainingTask(Protocol):
    """What a kind of training supplies to :func:`fit`."""

    model: nn.Module
    """The prepared (possibly wrapped) module that ``accelerator.accumulate`` watches."""

    def train_mode(self) -> None:
        """Put the trained modules in their training modes (again after an evaluation)."""

    def micro_step(self, batch: Sample, progress: TrainingProgress) -> StepValues:
        """Forward, loss, the values of every process; unless a value is not finite, backward and the optimiser
        step (which the prepared optimiser skips inside an accumulation window)."""

    def after_micro_step(self, values: StepValues, progress: TrainingProgress) -> None:
        """Notes on a micro-batch that trained (events, counters)."""

    def after_optimizer_step(self, progress: TrainingProgress) -> dict[str, float]:
        """Everything that follows an optimiser step (schedule, teacher); returns values for the log line."""

    def log_record(self, window: LogWindow, stepped: Mapping[str, float], progress: TrainingProgress) -> LogRecord:
        """The ``train`` line of the metrics log, from the micro-batches since the last line and what
        :meth:`after_optimizer_step` returned."""

    def progress_postfix(self, record: LogRecord) -> dict[str, str]:
        """What the progress bar shows after a log line."""

    def nonfinite_message(self, values: StepValues, progress: TrainingProgress) -> str:
        """The error's message when a value of ``values`` is not finite."""


class SupportsEpochs(Protocol):
    """The train sampler's side of the position: the epoch's order, where in it to start, and its length."""

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None: ...

    @property
    def batches_per_epoch(self) -> int: ...


@dataclass(frozen=True)
class FitPlan:
    """How long :func:`fit` runs and how often it logs, checkpoints and evaluates.

    Attributes:
        total_steps: optimiser steps of the schedule.
        stop_at: the step to stop at (``total_steps``, or fewer to stop early).
        samples_per_micro_batch: global samples of one micro-batch (for ``samples_per_s``).
        log_every: optimiser steps between log lines (and always at ``stop_at``).
        checkpoint_every: optimiser steps between checkpoints (0: only at the end); needs a run state.
        eval_every_epochs: epochs between evaluations (0: never).
        description: the progress bar's label; no bar when ``None``.
    """

    total_steps: int
    stop_at: int
    samples_per_micro_batch: int
    log_every: int = 1
    checkpoint_every: int = 0
    eval_every_epochs: int = 0
    description: str | None = None


class _Averager:
    """Mean of host-side values over the micro-batches since the last log line (NaN-aware)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            if math.isfinite(v):
                self.sums[k] = self.sums.get(k, 0.0) + v
                self.counts[k] = self.counts.get(k, 0) + 1
            else:
                self.sums.setdefault(k, 0.0)
                self.counts.setdefault(k, 0)

    def mean(self) -> dict[str, float]:
        return {k: (self.sums[k] / self.counts[k] if self.counts[k] else math.nan) for k in self.sums}


def fit(
    task: TrainingTask,
    *,
    accelerator: Accelerator,
    loader: Iterable[Sample],
    sampler: SupportsEpochs,
    dataset: object,
    progress: TrainingProgress,
    plan: FitPlan,
    log: MetricsLog,
    run_dir: Path | None = None,
    state: RunState | None = None,
    keep_last: int = 0,
    evaluate: Callable[[str], object] | None = None,
    unreadable: UnreadableSamples | None = None,
) -> bool:
    """Train from ``progress`` until ``plan.stop_at``; returns True when the schedule completed.

    Args:
        task: the step functions of the kind of training.
        accelerator: the ``Accelerator`` (its ``gradient_accumulation_steps`` is the accumulation window).
        loader: the train loader, resumable through ``sampler``.
        sampler: the loader's sampler.
        dataset: the train dataset (told the epoch when it has ``set_epoch``).
        progress: the position, advanced in place (restored from a checkpoint by the caller when resuming).
        plan: length and cadence.
        log: the metrics log.
        run_dir: the run folder of the checkpoints; with ``state``, a checkpoint is written every
            ``plan.checkpoint_every`` steps, at the end, and before a non-finite loss is raised.
        state: what a checkpoint holds.
        keep_last: checkpoints kept on disk (0 keeps all).
        evaluate: called with a label every ``plan.eval_every_epochs`` epochs.
        unreadable: notes the samples the loader replaced because they could not be read (``replaces``).

    Raises:
        NonFiniteLossError: a loss value became NaN/inf (after the checkpoint of the last completed step).
        DataError: more of the training split is unreadable than ``unreadable`` allows.
    """
    accum = accelerator.gradient_accumulation_steps
    task.train_mode()
    bar = None
    if plan.description is not None and accelerator.is_main_process:
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.total_steps, initial=progress.global_step, desc=plan.description, dynamic_ncols=True)
    averager = _Averager()
    samples_since, t_since = 0, time.perf_counter()
    last_saved = -1

    def checkpoint() -> None:
        nonlocal last_saved
        if state is not None and run_dir is not None and last_saved != progress.global_step:
            save_checkpoint(accelerator, run_dir, state, keep_last=keep_last)
            last_saved = progress.global_step

    while progress.global_step < plan.stop_at:
        sampler.set_epoch(progress.epoch, progress.batches_in_epoch)
        set_epoch = getattr(dataset, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(progress.epoch)
        for batch in loader:
            if unreadable is not None and "replaces" in batch:
                unreadable.add(batch["replaces"], progress.global_step)
            with accelerator.accumulate(task.model):
                values = task.micro_step(batch, progress)
            if values.nonfinite_terms:
                progress.batches_in_epoch -= progress.batches_in_epoch % accum
                checkpoint()
                if bar is not None:
                    bar.close()
                raise NonFiniteLossError(task.nonfinite_message(values, progress))
            progress.batches_in_epoch += 1
            samples_since += plan.samples_per_micro_batch
            task.after_micro_step(values, progress)
            averager.add({"loss": values.loss, **values.terms, **values.diagnostics})
            if not accelerator.sync_gradients:
                continue
            stepped = task.after_optimizer_step(progress)
            progress.global_step += 1
            step = progress.global_step
            if step % max(1, plan.log_every) == 0 or step == plan.stop_at:
                elapsed = time.perf_counter() - t_since
                window = LogWindow(averager.mean(), values, samples_since / elapsed if elapsed > 0 else math.nan)
                record = task.log_record(window, stepped, progress)
                log.write("train", step, record)
                if bar is not None:
                    bar.set_postfix(task.progress_postfix(record))
                averager = _Averager()
                samples_since, t_since = 0, time.perf_counter()
            if bar is not None:
                bar.update(1)
            if plan.checkpoint_every and step % plan.checkpoint_every == 0:
                checkpoint()
            if step >= plan.stop_at:
                break
        else:
            progress.epoch += 1
            progress.batches_in_epoch = 0
            if evaluate is not None and plan.eval_every_epochs and progress.epoch % plan.eval_every_epochs == 0:
                evaluate(f"epoch {progress.epoch}")
                task.train_mode()
            continue
        if progress.batches_in_epoch >= sampler.batches_per_epoch:
            progress.epoch += 1
            progress.batches_in_epoch = 0
    checkpoint()
    if bar is not None:
        bar.close()
    return progress.global_step >= plan.total_steps
