"""A self-training run in three named steps: :func:`build_selftraining` (every part, from the config),
:func:`fit_selftraining` (the zero-shot score, then :func:`crossmost_train.selftrain.self_train`) and
:func:`report_selftraining` (final scores, saved models, the run folder's results, plots and report).

``crossmost-train selftrain`` (:func:`crossmost_train.commands.selftrain.run_selftrain`) calls them in turn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import parse_flag_from_env, set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset

from crossmost_data.loader import GlobalBatchSampler, Sample, StreamingEpochs
from crossmost_data.loader.remote import location_name
from crossmost_models import image_num_layers, layer_id_fn, merge_lora
from crossmost_train.accelerator_setup import build_accelerator, per_device_batch
from crossmost_train.checkpoint import RunState, TrainingProgress, load_checkpoint, resolve_resume
from crossmost_train.config import TrainConfig, config_to_dict, save_config
from crossmost_train.ema import EmaTeacher
from crossmost_train.evaluation import evaluate_model
from crossmost_train.logging_utils import MetricsLog, read_metrics
from crossmost_train.memory import announce, prepare_student
from crossmost_train.optim import build_adamw, build_param_groups, build_scheduler, scaled_learning_rate
from crossmost_train.plots import plot_confusion, plot_run
from crossmost_train.report import has_labels, score_line, write_report
from crossmost_train.run_builder import Components, RunBuilder, data_shape
from crossmost_train.selftrain import SelfTrainer, self_train
from crossmost_train.unreadable import UnreadableSamples, announce_left_out, skipped_at_indexing


def needs_unused_parameter_search(cfg: TrainConfig) -> bool:
    """DDP must look for unused parameters when a term (hence a head) is switched off."""
    if cfg.run.find_unused_parameters != "auto":
        return cfg.run.find_unused_parameters == "yes"
    return cfg.objective.drops_a_head()


def scalar_scores(scores: dict[str, Any]) -> dict[str, Any]:
    """The scalar entries of ``score_predictions`` (no per-class lists, confusion matrices, prediction counts or
    names of unreadable samples)."""
    return {k: v for k, v in scores.items() if not isinstance(v, (list, tuple, dict))}


def _flat_hparams(cfg: TrainConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, values in config_to_dict(cfg).items():
        for k, v in values.items():
            flat[f"{section}.{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return flat


Scores = dict[str, dict[str, Any]]
"""Model label (``student``, ``teacher``) → its scores (``score_predictions``)."""


@dataclass
class SelfTrainingRun:
    """A self-training run as :func:`build_selftraining` makes it: what :func:`fit_selftraining` trains and
    :func:`report_selftraining` reports.

    Attributes:
        cfg: the configuration.
        run_dir: the run folder.
        accelerator: the ``Accelerator``.
        classnames: the classifier's class names.
        trainer: the self-training steps (student, teacher, objective, optimiser, schedule, log).
        train_dataset: the training split.
        eval_dataset: the evaluation split.
        train_loader: this process's share of each global batch.
        sampler: the train loader's resumable sampler.
        eval_loader: this process's share of the evaluation split.
        progress: the position (restored when resuming).
        total_steps: optimiser steps of the schedule.
        log: the metrics log.
        unreadable: the training samples this process could not read.
    """

    cfg: TrainConfig
    run_dir: Path
    accelerator: Accelerator
    classnames: list[str]
    trainer: SelfTrainer
    train_dataset: Dataset[Sample]
    eval_dataset: Dataset[Sample]
    train_loader: DataLoader[Sample]
    sampler: GlobalBatchSampler | StreamingEpochs
    eval_loader: DataLoader[Sample]
    progress: TrainingProgress
    total_steps: int
    log: MetricsLog
    unreadable: UnreadableSamples
    announced: set[str] = field(default_factory=set)
    """Unreadable evaluation samples already announced on the console."""

    def evaluate(self, label: str) -> Scores:
        """Score the student (and the teacher, with ``eval.evaluate_teacher``) on the evaluation split; log the
        scalar scores and print the student's line."""
        cfg, accelerator = self.cfg, self.accelerator
        models = {"student": self.trainer.student}
        if cfg.eval.evaluate_teacher:
            models["teacher"] = self.trainer.teacher.module
        results: Scores = {}
        for name, model in models.items():
            scores, _ = evaluate_model(
                model,
                self.eval_loader,
                accelerator,
                self.classnames,
                num_samples=len(self.eval_dataset),  # type: ignore[arg-type]
                eval_view=cfg.data.eval_view,
                joint_rule=cfg.eval.joint_rule,
                subsets=cfg.eval.subsets,
                subset_protocol=cfg.eval.subset_protocol,
                progress=f"evaluate {name} ({label})" if cfg.run.progress_bar else None,
            )
            results[name] = scores
            scalars = {f"{name}/{k}": v for k, v in scalar_scores(scores).items()}
            self.log.write("eval", self.progress.global_step, scalars)
            if accelerator.is_main_process:
                announce_left_out(scores["unreadable/samples"], self.announced)
        accelerator.print(f"[crossmost] {label}: {score_line(results['student'], self.classnames)}")
        return results


def build_selftraining(cfg: TrainConfig, components: Components | None = None) -> SelfTrainingRun:
    """Build every part of a self-training run: the Accelerator, class names, student and EMA teacher, optimiser
    and schedule, datasets and loaders, the objective and the self-training steps; resume from the last checkpoint
    when ``run.resume`` says so. Writes ``config.yaml`` into the run folder."""
    run_dir = Path(cfg.run.output_dir)
    # The first state built decides: honour `--cpu` (ACCELERATE_USE_CPU) as the Accelerator would, or several CPU
    # processes would each run alone.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    batch_size, accum = per_device_batch(cfg, state.num_processes)
    accelerator = build_accelerator(
        cfg, run_dir, grad_accum_steps=accum, find_unused_parameters=needs_unused_parameter_search(cfg)
    )
    builder = RunBuilder(cfg, components)
    classnames = builder.classnames()
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    set_seed(cfg.run.seed)
    model = builder.model(classnames)
    plan = prepare_student(model, cfg)
    announce(plan, accelerator)
    teacher = EmaTeacher(
        model,
        momentum_start=cfg.ema.momentum_start,
        momentum_end=cfg.ema.momentum_end,
        warmup_steps=cfg.ema.warmup_steps,
        buffers=cfg.ema.buffers,
        share_frozen=cfg.memory.teacher_shares_frozen,
        constant_buffers=plan.constant_buffers,
    ).to(accelerator.device)
    lr = scaled_learning_rate(cfg.optim.base_lr, cfg.optim.global_batch_size)
    min_lr = scaled_learning_rate(cfg.optim.min_lr, cfg.optim.global_batch_size)
    groups = build_param_groups(
        model,
        weight_decay=cfg.optim.weight_decay,
        layer_decay=cfg.optim.layer_decay,
        num_layers=image_num_layers(model),
        layer_id=layer_id_fn(model),
        decay_zero_dim=cfg.optim.decay_logit_scale,
    )
    model.to(accelerator.device)
    optimizer = build_adamw(
        groups, lr=lr, betas=cfg.optim.betas, eps=cfg.optim.eps, fused=cfg.optim.fused, device=accelerator.device
    )
    shape = data_shape(cfg, model)
    train_ds = builder.train_dataset(shape)
    loader, sampler = builder.train_loader(
        train_ds, batch_size=batch_size, grad_accum_steps=accum, accelerator=accelerator
    )
    steps_per_epoch = sampler.steps_per_epoch
    total_steps = cfg.schedule.max_steps or max(1, math.ceil(cfg.schedule.epochs * steps_per_epoch))
    warmup = cfg.schedule.warmup_steps
    if warmup < 0:
        warmup = round(cfg.schedule.warmup_epochs * steps_per_epoch)
    scheduler = build_scheduler(optimizer, warmup_steps=warmup, total_steps=total_steps, lr=lr, min_lr=min_lr)
    eval_ds = builder.eval_dataset(shape)
    eval_dl = builder.eval_loader(eval_ds, accelerator)
    if cfg.run.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = TrainingProgress()
    if accelerator.trackers is not None and cfg.run.trackers:
        accelerator.init_trackers("crossmost", config=_flat_hparams(cfg))
    log = MetricsLog(run_dir, accelerator)
    resume_from = resolve_resume(run_dir, cfg.run.resume)
    objective = builder.objective(len(classnames)).to(accelerator.device)
    if resume_from is not None:
        student = accelerator.unwrap_model(model)
        saved = RunState(
            student, optimizer, teacher, scheduler, progress, scaler=accelerator.scaler, objective=objective
        )
        load_checkpoint(accelerator, resume_from, saved)
        log.truncate_after(progress.global_step)
        accelerator.print(f"[crossmost] resumed from {resume_from} (step {progress.global_step})")
    else:
        log.truncate_after(-1)  # a fresh run in a folder used before: the earlier run's records are not this run's
        set_seed(cfg.run.seed + accelerator.process_index)
    trainer = SelfTrainer(cfg, accelerator, model, teacher, objective, optimizer, scheduler, log=log, run_dir=run_dir)
    split_size = len(train_ds)  # type: ignore[arg-type]
    unreadable = UnreadableSamples(accelerator, log, split_size=split_size, max_fraction=cfg.data.max_unreadable)
    return SelfTrainingRun(
        cfg=cfg,
        run_dir=run_dir,
        accelerator=accelerator,
        classnames=classnames,
        trainer=trainer,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        train_loader=loader,
        sampler=sampler,
        eval_loader=eval_dl,
        progress=progress,
        total_steps=total_steps,
        log=log,
        unreadable=unreadable,
    )


def fit_selftraining(run: SelfTrainingRun) -> bool:
    """Score the initial model (zero-shot, into ``zero_shot.json``) unless resuming, then self-train with
    :func:`crossmost_train.selftrain.self_train`; returns True when the schedule completed (False when
    ``run.stop_after_steps`` stopped it first)."""
    if run.progress.global_step == 0:
        zero_shot = run.evaluate("initial model (zero-shot)")
        if run.accelerator.is_main_process:
            (run.run_dir / "zero_shot.json").write_text(json.dumps(zero_shot["student"]))
    return self_train(
        run.trainer,
        loader=run.train_loader,
        sampler=run.sampler,
        dataset=run.train_dataset,
        progress=run.progress,
        total_steps=run.total_steps,
        evaluate=run.evaluate,
        unreadable=run.unreadable,
    )


def report_selftraining(run: SelfTrainingRun) -> Scores:
    """Score the last student (and teacher); save both (``model/``, ``teacher/``) and write the run folder's
    results, plots and report (:func:`finish_run_folder`); returns the final scores."""
    cfg, accelerator = run.cfg, run.accelerator
    final = run.evaluate("final model (last step)")
    damaged = [
        *skipped_at_indexing(run.train_dataset, run.eval_dataset),
        *(f"{cfg.data.train_split}: {line}" for line in run.unreadable.gather()),
        *(f"{cfg.data.eval_split}: {line}" for line in final["student"].get("unreadable/samples", [])),
    ]
    if accelerator.is_main_process:
        # Saved models hold plain weights: low-rank adapters are folded in (outputs unchanged).
        merge_lora(run.trainer.student)
        merge_lora(run.trainer.teacher.module)
        save_pretrained(run.trainer.student, run.run_dir / "model")
        save_pretrained(run.trainer.teacher.module, run.run_dir / "teacher")
        finish_run_folder(run.run_dir, cfg, run.classnames, final, run.progress, unreadable=damaged)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def save_pretrained(model: nn.Module, folder: Path) -> None:
    """``model.save_pretrained(folder)`` (the ``CrossModalModel`` interface)."""
    saver: Callable[[Path], object] = getattr(model, "save_pretrained")  # noqa: B009
    saver(folder)


def finish_run_folder(
    run_dir: Path,
    cfg: TrainConfig,
    classnames: list[str],
    final: Scores,
    progress: TrainingProgress,
    *,
    unreadable: list[str] | None = None,
) -> None:
    """``results.json``, plots, confusion matrices and ``report.md`` (main process); ``unreadable`` lists the
    samples the run could not read."""
    results: dict[str, dict[str, Any]] = {}
    zero_path = run_dir / "zero_shot.json"
    if zero_path.is_file():
        results["zero-shot (initial model)"] = json.loads(zero_path.read_text())
    results["self-trained student (last step)"] = final["student"]
    if "teacher" in final:
        results["EMA teacher (last step)"] = final["teacher"]
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    figures = [p.name for p in plot_run(read_metrics(run_dir), run_dir)]
    if cfg.eval.confusion_matrix and has_labels(final["student"]):
        for branch in ("image*", "point", "joint"):
            name = f"confusion_{branch.replace('*', '_star')}.png"
            plot_confusion(final["student"][f"confusion/{branch}"], classnames, run_dir / name, f"student, {branch}")
            figures.append(name)
    write_report(
        run_dir,
        title=f"Cross-MoST self-training: {location_name(cfg.data.root)}",
        results=results,
        classnames=classnames,
        summary={
            "optimiser steps": progress.global_step,
            "epochs": progress.epoch,
            "global batch": cfg.optim.global_batch_size,
            "pseudo-label strategy": cfg.objective.strategy,
            "micro-batches with no confident sample": progress.skipped_empty,
        },
        figures=figures,
        per_class_of="self-trained student (last step)",
        unreadable=unreadable or [],
    )
