"""Cross-modal self-training with an EMA teacher (DESIGN.md §4–§5), driven by Accelerate.

Per micro-batch: the teacher (never wrapped, eval mode, no grad) labels the weak inputs; the student sees the strong,
masked inputs; ``crossmost_losses.CrossMoSTObjective`` computes every term; one small all-reduce carries the loss
terms and diagnostics of all processes (and tells every process at once when a loss is not finite). After each
optimiser step (not each micro-batch) the teacher is updated from the unwrapped student and the schedule advances.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from crossmost_train.checkpoint import RunState, TrainingProgress, save_checkpoint
from crossmost_train.config import TrainConfig
from crossmost_train.ema import EmaTeacher
from crossmost_train.unreadable import UnreadableSamples
from crossmost_train.wiring import masks_images, masks_points


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; a checkpoint of the last good step was written."""


def _step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    # A function of the position only, so a resumed run draws the same masks as an uninterrupted one.
    return (seed * 1_000_003 + rank * 7_919 + step * 131 + micro) % (2**63 - 1)


@dataclass
class StepValues:
    """Host-side values of one micro-batch, averaged over processes."""

    loss: float
    terms: dict[str, float]
    diagnostics: dict[str, float]
    nonfinite_terms: list[str] = field(default_factory=list)


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
    """

    def __init__(
        self,
        cfg: TrainConfig,
        accelerator: Any,
        model: nn.Module,
        teacher: EmaTeacher,
        objective: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
    ) -> None:
        self.cfg = cfg
        self.accelerator = accelerator
        self.model = model
        self.student = accelerator.unwrap_model(model)
        self.teacher = teacher
        self.objective = objective
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.mask_images = masks_images(cfg)
        self.mask_points = masks_points(cfg)

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Tensors of the batch on the accelerator's device."""
        device = self.accelerator.device
        return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}

    @torch.no_grad()
    def teacher_forward(self, batch: dict[str, Any]) -> Any:
        """Teacher logits on the weak inputs (autocast as the student, no masks)."""
        with self.accelerator.autocast():
            return self.teacher.module(batch["image_weak"], batch["points_weak"])

    def student_forward(self, batch: dict[str, Any], generator: torch.Generator | None) -> Any:
        """Student outputs on the strong, masked inputs."""
        mask = batch["image_mask"] if self.mask_images else None
        return self.model(
            batch["image_strong"], batch["points_strong"], image_mask=mask, mask_points=self.mask_points,
            generator=generator,
        )  # fmt: skip

    def losses(self, student_out: Any, teacher_out: Any, labels: Tensor, generator: torch.Generator | None) -> Any:
        """The objective (in fp32, outside autocast)."""
        with torch.autocast(device_type=self.accelerator.device.type, enabled=False):
            return self.objective(student_out, teacher_out, labels=labels, generator=generator)

    def reduce_values(self, out: Any) -> StepValues:
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

    def micro_step(self, batch: dict[str, Any], progress: TrainingProgress) -> StepValues:
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

    def after_optimizer_step(self, progress: TrainingProgress) -> float:
        """Teacher update (from the unwrapped student) and schedule step; returns the EMA momentum used."""
        momentum = self.teacher.update(self.student, progress.global_step)
        self.scheduler.step()
        return momentum


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


def train_loop(
    trainer: SelfTrainer,
    *,
    loader: Any,
    sampler: Any,
    dataset: Any,
    progress: TrainingProgress,
    total_steps: int,
    run_dir: Any,
    log: Any,
    evaluate: Callable[[str], Any],
    unreadable: UnreadableSamples | None = None,
) -> bool:
    """Run until ``total_steps`` (or ``run.stop_after_steps``); returns True when the schedule completed.

    ``unreadable`` notes the samples the loader replaced because they could not be read (the ``replaces`` field).

    Raises:
        NonFiniteLossError: a loss term became NaN/inf; a checkpoint of the last completed step is written first.
        DataError: more of the training split is unreadable than ``data.max_unreadable`` allows.
    """
    cfg, accelerator = trainer.cfg, trainer.accelerator
    from crossmost_train.wiring import set_train_mode

    set_train_mode(trainer.student, cfg)
    stop_at = min(total_steps, cfg.run.stop_after_steps) if cfg.run.stop_after_steps else total_steps
    bar = None
    if cfg.run.progress_bar and accelerator.is_main_process:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=progress.global_step, desc="selftrain", dynamic_ncols=True)
    averager = _Averager()
    samples_since, t_since = 0, time.perf_counter()
    last_saved = -1
    accum = accelerator.gradient_accumulation_steps
    state = RunState(
        trainer.student, trainer.optimizer, trainer.teacher, trainer.scheduler, progress, scaler=accelerator.scaler
    )

    def checkpoint() -> None:
        nonlocal last_saved
        if last_saved != progress.global_step:
            save_checkpoint(accelerator, run_dir, state, keep_last=cfg.run.keep_last)
            last_saved = progress.global_step

    while progress.global_step < stop_at:
        sampler.set_epoch(progress.epoch, progress.batches_in_epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(progress.epoch)
        for batch in loader:
            if unreadable is not None and "replaces" in batch:
                unreadable.add(batch["replaces"], progress.global_step)
            with accelerator.accumulate(trainer.model):
                values = trainer.micro_step(batch, progress)
            if values.nonfinite_terms:
                progress.batches_in_epoch -= progress.batches_in_epoch % accum
                checkpoint()
                if bar is not None:
                    bar.close()
                raise NonFiniteLossError(
                    f"the loss became non-finite at optimiser step {progress.global_step} (epoch {progress.epoch}, "
                    f"micro-batch {progress.batches_in_epoch}); non-finite terms: {', '.join(values.nonfinite_terms)}. "
                    f"The last good state is saved in {run_dir}/checkpoints/step-{progress.global_step:08d}."
                )
            progress.batches_in_epoch += 1
            samples_since += cfg.optim.global_batch_size // accum
            kept = max(values.diagnostics.get("image_kept_ratio", 0.0), values.diagnostics.get("point_kept_ratio", 0.0))
            if kept == 0.0:
                progress.skipped_empty += 1
                log.write("event", progress.global_step, {"event": "no_confident_sample", "epoch": progress.epoch})
                if progress.skipped_empty in (1, 10, 100) or progress.skipped_empty % 1000 == 0:
                    accelerator.print(
                        f"[crossmost] step {progress.global_step}: no sample passed the pseudo-label threshold "
                        f"({progress.skipped_empty} such micro-batches so far); the classification terms are zero"
                    )
            averager.add({"loss": values.loss, **values.terms, **values.diagnostics})
            if not accelerator.sync_gradients:
                continue
            momentum = trainer.after_optimizer_step(progress)
            progress.global_step += 1
            step = progress.global_step
            if step % max(1, cfg.run.log_every) == 0 or step == stop_at:
                elapsed = time.perf_counter() - t_since
                record = averager.mean()
                record.update(
                    lr=max(trainer.scheduler.get_last_lr()),
                    ema_momentum=momentum,
                    epoch=progress.epoch,
                    samples_per_s=samples_since / elapsed if elapsed > 0 else math.nan,
                    no_confident_batches=progress.skipped_empty,
                )
                log.write("train", step, record)
                if bar is not None:
                    bar.set_postfix(
                        loss=f"{record['loss']:.3f}",
                        kept=f"{max(record.get('image_kept_ratio', 0), record.get('point_kept_ratio', 0)):.2f}",
                        sps=f"{record['samples_per_s']:.1f}",
                    )
                averager = _Averager()
                samples_since, t_since = 0, time.perf_counter()
            if bar is not None:
                bar.update(1)
            if cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0:
                checkpoint()
            if step >= stop_at:
                break
        else:
            progress.epoch += 1
            progress.batches_in_epoch = 0
            if cfg.run.eval_every_epochs and progress.epoch % cfg.run.eval_every_epochs == 0:
                evaluate(f"epoch {progress.epoch}")
                set_train_mode(trainer.student, cfg)
            continue
        if progress.batches_in_epoch >= sampler.batches_per_epoch:
            progress.epoch += 1
            progress.batches_in_epoch = 0
    checkpoint()
    if bar is not None:
        bar.close()
    return progress.global_step >= total_steps
