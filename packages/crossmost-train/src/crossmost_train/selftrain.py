"""Cross-modal self-training with an EMA teacher (DESIGN.md §4–§5), driven by Accelerate.

Per micro-batch: the teacher (never wrapped, eval mode, no grad) labels the weak inputs; the student sees the strong,
masked inputs; ``crossmost_losses.CrossMoSTObjective`` computes every term; one small all-reduce carries the loss
terms and diagnostics of all processes (and tells every process at once when a loss is not finite). After each
optimiser step (not each micro-batch) the teacher is updated from the unwrapped student and the schedule advances.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import Tensor, nn

from crossmost_data.loader import Sample
from crossmost_losses import CrossMoSTObjective, ModelOutputs, ObjectiveOutput, TeacherOutputs
from crossmost_train.checkpoint import RunState, TrainingProgress
from crossmost_train.config import TrainConfig
from crossmost_train.ema import EmaTeacher
from crossmost_train.engine import (
    FitPlan,
    LogRecord,
    LogWindow,
    NonFiniteLossError,
    StepValues,
    SupportsEpochs,
    batch_to_device,
    fit,
)
from crossmost_train.logging_utils import MetricsLog
from crossmost_train.memory import train_mode
from crossmost_train.unreadable import UnreadableSamples

__all__ = ["NonFiniteLossError", "SelfTrainer", "StepValues", "self_train", "train_loop"]


def _step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    # A function of the position only, so a resumed run draws the same masks as an uninterrupted one.
    return (seed * 1_000_003 + rank * 7_919 + step * 131 + micro) % (2**63 - 1)


class SelfTrainer:
    """One micro-batch of self-training, split into the parts the benchmark times separately.

    Args:
        cfg: the run configuration.
        accelerator: the ``Accelerator``.
        model: the prepared (possibly wrapped) student.
        teacher: the EMA teacher (unwrapped, on the device).
        objective: ``CrossMoSTObjective``.
        optimizer: the prepared optimiser.
        scheduler: the lr schedule, stepped once per optimiser step.
        log: the metrics log (events of micro-batches with no confident sample).
        run_dir: the run folder (its checkpoints).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        accelerator: Accelerator,
        model: nn.Module,
        teacher: EmaTeacher,
        objective: CrossMoSTObjective,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        *,
        log: MetricsLog | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.accelerator = accelerator
        self.model = model
        self.student = accelerator.unwrap_model(model)
        self.teacher = teacher
        self.objective = objective
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.log = log
        self.run_dir = run_dir
        self.mask_images = cfg.objective.masks_images()
        self.mask_points = cfg.objective.masks_points()

    def to_device(self, batch: Sample) -> Sample:
        """Tensors of the batch on the accelerator's device."""
        return batch_to_device(batch, self.accelerator.device)

    @torch.no_grad()
    def teacher_forward(self, batch: Sample) -> TeacherOutputs:
        """Teacher logits on the weak inputs (autocast as the student, no masks)."""
        with self.accelerator.autocast():
            return self.teacher.module(batch["image_weak"], batch["points_weak"])

    def student_forward(self, batch: Sample, generator: torch.Generator | None) -> ModelOutputs:
        """Student outputs on the strong, masked inputs."""
        mask = batch["image_mask"] if self.mask_images else None
        return self.model(
            batch["image_strong"], batch["points_strong"], image_mask=mask, mask_points=self.mask_points,
            generator=generator,
        )  # fmt: skip

    def losses(
        self,
        student_out: ModelOutputs,
        teacher_out: TeacherOutputs,
        labels: Tensor,
        generator: torch.Generator | None,
    ) -> ObjectiveOutput:
        """The objective (in fp32, outside autocast)."""
        with torch.autocast(device_type=self.accelerator.device.type, enabled=False):
            return self.objective(student_out, teacher_out, labels=labels, generator=generator)

    def reduce_values(self, out: ObjectiveOutput) -> StepValues:
        """Average loss, terms and diagnostics over processes with one all-reduce and one host sync."""
        names = list(out.terms)
        diag_names = list(out.diagnostics)
        stacked = torch.stack(
            [out.total.detach().float().reshape(())]
            + [out.terms[n].detach().float().reshape(()) for n in names]
            + [out.diagnostics[n].detach().float().reshape(()) for n in diag_names]
        )
        finite = torch.isfinite(stacked[: 1 + len(names)]).float()
        packed = torch.cat([stacked, finite])
        if self.accelerator.num_processes > 1:
            packed = self.accelerator.reduce(packed, reduction="mean")
        values = packed.cpu().tolist()
        k = 1 + len(names) + len(diag_names)
        finite_flags = values[k:]
        bad = [n for n, f in zip(["total", *names], finite_flags, strict=True) if f < 1.0]
        return StepValues(
            loss=values[0],
            terms=dict(zip(names, values[1 : 1 + len(names)], strict=True)),
            diagnostics=dict(zip(diag_names, values[1 + len(names) : k], strict=True)),
            nonfinite_terms=bad,
        )

    def micro_step(self, batch: Sample, progress: TrainingProgress) -> StepValues:
        """Forward both models, compute the objective, check it, backpropagate; step the optimiser on the last
        micro-batch of an accumulation window (call inside ``accelerator.accumulate``)."""
        cfg = self.cfg
        seed = _step_seed(cfg.run.seed, self.accelerator.process_index, progress.global_step, progress.batches_in_epoch)
        mask_gen = torch.Generator(device=self.accelerator.device).manual_seed(seed)
        label_gen = torch.Generator(device=self.accelerator.device).manual_seed(seed + 1)
        batch = self.to_device(batch)
        teacher_out = self.teacher_forward(batch)
        student_out = self.student_forward(batch, mask_gen)
        out = self.losses(student_out, teacher_out, batch["label"], label_gen)
        values = self.reduce_values(out)
        if values.nonfinite_terms:
            return values
        self.accelerator.backward(out.total)
        if self.accelerator.sync_gradients and cfg.optim.grad_clip > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return values

    def train_mode(self) -> None:
        """The student's training modes (frozen parts and BatchNorm as configured)."""
        train_mode(self.student, self.cfg)

    def after_micro_step(self, values: StepValues, progress: TrainingProgress) -> None:
        """Count and log a micro-batch in which no sample passed the pseudo-label threshold."""
        kept = max(values.diagnostics.get("image_kept_ratio", 0.0), values.diagnostics.get("point_kept_ratio", 0.0))
        if kept != 0.0 or self.log is None:
            return
        progress.skipped_empty += 1
        self.log.write("event", progress.global_step, {"event": "no_confident_sample", "epoch": progress.epoch})
        if progress.skipped_empty in (1, 10, 100) or progress.skipped_empty % 1000 == 0:
            self.accelerator.print(
                f"[crossmost] step {progress.global_step}: no sample passed the pseudo-label threshold "
                f"({progress.skipped_empty} such micro-batches so far); the classification terms are zero"
            )

    def after_optimizer_step(self, progress: TrainingProgress) -> dict[str, float]:
        """Teacher update (from the unwrapped student) and schedule step; returns the lr and the EMA momentum."""
        momentum = self.teacher.update(self.student, progress.global_step)
        self.scheduler.step()
        return {"lr": float(max(self.scheduler.get_last_lr())), "ema_momentum": momentum}

    def log_record(self, window: LogWindow, stepped: Mapping[str, float], progress: TrainingProgress) -> LogRecord:
        """The mean of every term and diagnostic since the last line, the lr, the EMA momentum and the throughput."""
        return {
            **window.mean,
            **stepped,
            "epoch": progress.epoch,
            "samples_per_s": window.samples_per_s,
            "no_confident_batches": progress.skipped_empty,
        }

    def progress_postfix(self, record: LogRecord) -> dict[str, str]:
        """Loss, kept ratio and throughput."""
        kept = max(record.get("image_kept_ratio", 0), record.get("point_kept_ratio", 0))
        return {"loss": f"{record['loss']:.3f}", "kept": f"{kept:.2f}", "sps": f"{record['samples_per_s']:.1f}"}

    def nonfinite_message(self, values: StepValues, progress: TrainingProgress) -> str:
        """Where the loss became non-finite, which terms, and the checkpoint of the last good state."""
        return (
            f"the loss became non-finite at optimiser step {progress.global_step} (epoch {progress.epoch}, "
            f"micro-batch {progress.batches_in_epoch}); non-finite terms: {', '.join(values.nonfinite_terms)}. "
            f"The last good state is saved in {self.run_dir}/checkpoints/step-{progress.global_step:08d}."
        )


def train_loop(
    trainer: SelfTrainer,
    *,
    loader: Iterable[Sample],
    sampler: SupportsEpochs,
    dataset: object,
    progress: TrainingProgress,
    total_steps: int,
    run_dir: Path,
    log: MetricsLog,
    evaluate: Callable[[str], object],
    unreadable: UnreadableSamples | None = None,
) -> bool:
    """Self-train until ``total_steps`` (or ``run.stop_after_steps``) with :func:`crossmost_train.engine.fit`;
    returns True when the schedule completed. Deprecated: build a :class:`SelfTrainer` with ``log`` and
    ``run_dir`` and call :func:`self_train`."""
    warnings.warn(
        "crossmost_train.selftrain.train_loop is deprecated; use crossmost_train.selftrain.self_train",
        DeprecationWarning,
        stacklevel=2,
    )
    trainer.log, trainer.run_dir = log, run_dir
    return self_train(
        trainer, loader=loader, sampler=sampler, dataset=dataset, progress=progress, total_steps=total_steps,
        evaluate=evaluate, unreadable=unreadable,
    )  # fmt: skip


def self_train(
    trainer: SelfTrainer,
    *,
    loader: Iterable[Sample],
    sampler: SupportsEpochs,
    dataset: object,
    progress: TrainingProgress,
    total_steps: int,
    evaluate: Callable[[str], object],
    unreadable: UnreadableSamples | None = None,
) -> bool:
    """Run :func:`crossmost_train.engine.fit` on self-training steps until ``total_steps`` (or
    ``run.stop_after_steps``), checkpointing into the trainer's run folder; returns True when the schedule completed.

    Raises:
        NonFiniteLossError: a loss term became NaN/inf; a checkpoint of the last completed step is written first.
        DataError: more of the training split is unreadable than ``data.max_unreadable`` allows.
    """
    cfg, accelerator = trainer.cfg, trainer.accelerator
    if trainer.log is None or trainer.run_dir is None:
        raise ValueError("self_train needs a SelfTrainer built with a log and a run folder")
    plan = FitPlan(
        total_steps=total_steps,
        stop_at=min(total_steps, cfg.run.stop_after_steps) if cfg.run.stop_after_steps else total_steps,
        samples_per_micro_batch=cfg.optim.global_batch_size // accelerator.gradient_accumulation_steps,
        log_every=cfg.run.log_every,
        checkpoint_every=cfg.run.checkpoint_every,
        eval_every_epochs=cfg.run.eval_every_epochs,
        description="selftrain" if cfg.run.progress_bar else None,
    )
    state = RunState(
        trainer.student,
        trainer.optimizer,
        trainer.teacher,
        trainer.scheduler,
        progress,
        scaler=accelerator.scaler,
        objective=trainer.objective,
    )
    return fit(
        trainer, accelerator=accelerator, loader=loader, sampler=sampler, dataset=dataset, progress=progress,
        plan=plan, log=trainer.log, run_dir=trainer.run_dir, state=state, keep_last=cfg.run.keep_last,
        evaluate=evaluate, unreadable=unreadable,
    )  # fmt: skip
