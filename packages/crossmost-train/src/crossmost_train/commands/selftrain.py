"""``crossmost-train selftrain``: Cross-MoST self-training of a model on an unlabelled prepared dataset."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch

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
from crossmost_train.selftrain import SelfTrainer, self_train
from crossmost_train.unreadable import UnreadableSamples, announce_left_out
from crossmost_train.wiring import (
    Components,
    build_objective,
    eval_loader,
    skipped_at_indexing,
    train_loader,
)


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


def run_selftrain(cfg: TrainConfig, components: Components | None = None) -> dict[str, Any]:
    """Self-train as configured; returns the final scores (empty when stopped early by ``run.stop_after_steps``).

    ``components`` replaces the default builders (model, datasets, class names) for use from Python.

    The run folder gets ``config.yaml``, ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/``, ``model/`` (the
    last student, ``save_pretrained``), ``teacher/``, ``results.json``, ``report.md`` and PNG plots.
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env, set_seed

    run_dir = Path(cfg.run.output_dir)
    # The first state built decides: honour `--cpu` (ACCELERATE_USE_CPU) as the Accelerator would, or several CPU
    # processes would each run alone.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    batch_size, accum = per_device_batch(cfg, state.num_processes)
    accelerator = build_accelerator(
        cfg, run_dir, grad_accum_steps=accum, find_unused_parameters=needs_unused_parameter_search(cfg)
    )
    parts = components or Components()
    classnames = parts.classnames(cfg)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    set_seed(cfg.run.seed)
    model = parts.model(cfg, classnames)
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
    train_ds = parts.train_dataset(cfg, model)
    loader, sampler = train_loader(
        train_ds, cfg, batch_size=batch_size, grad_accum_steps=accum, accelerator=accelerator
    )
    steps_per_epoch = sampler.steps_per_epoch
    total_steps = cfg.schedule.max_steps or max(1, math.ceil(cfg.schedule.epochs * steps_per_epoch))
    warmup = cfg.schedule.warmup_steps
    if warmup < 0:
        warmup = round(cfg.schedule.warmup_epochs * steps_per_epoch)
    scheduler = build_scheduler(optimizer, warmup_steps=warmup, total_steps=total_steps, lr=lr, min_lr=min_lr)
    eval_ds = parts.eval_dataset(cfg, model)
    eval_dl = eval_loader(eval_ds, cfg, accelerator)
    if cfg.run.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = TrainingProgress()
    if accelerator.trackers is not None and cfg.run.trackers:
        accelerator.init_trackers("crossmost", config=_flat_hparams(cfg))
    log = MetricsLog(run_dir, accelerator)
    resume_from = resolve_resume(run_dir, cfg.run.resume)
    student: Any = accelerator.unwrap_model(model)
    if resume_from is not None:
        state = RunState(student, optimizer, teacher, scheduler, progress, scaler=accelerator.scaler)
        load_checkpoint(accelerator, resume_from, state)
        log.truncate_after(progress.global_step)
        accelerator.print(f"[crossmost] resumed from {resume_from} (step {progress.global_step})")
    else:
        set_seed(cfg.run.seed + accelerator.process_index)
    objective = build_objective(cfg).to(accelerator.device)
    trainer = SelfTrainer(cfg, accelerator, model, teacher, objective, optimizer, scheduler, log=log, run_dir=run_dir)
    eval_kwargs = {
        "num_samples": len(eval_ds),  # type: ignore[arg-type]
        "eval_view": cfg.data.eval_view,
        "joint_rule": cfg.eval.joint_rule,
        "subsets": cfg.eval.subsets,
        "subset_protocol": cfg.eval.subset_protocol,
    }

    announced: set[str] = set()

    def evaluate(label: str) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        models = {"student": student}
        if cfg.eval.evaluate_teacher:
            models["teacher"] = teacher.module
        for name, m in models.items():
            bar = f"evaluate {name} ({label})" if cfg.run.progress_bar else None
            scores, _ = evaluate_model(m, eval_dl, accelerator, classnames, progress=bar, **eval_kwargs)  # type: ignore[arg-type]
            results[name] = scores
            log.write("eval", progress.global_step, {f"{name}/{k}": v for k, v in scalar_scores(scores).items()})
            if accelerator.is_main_process:
                announce_left_out(scores["unreadable/samples"], announced)
        accelerator.print(f"[crossmost] {label}: {score_line(results['student'], classnames)}")
        return results

    if progress.global_step == 0:
        zero_shot = evaluate("initial model (zero-shot)")
        if accelerator.is_main_process:
            (run_dir / "zero_shot.json").write_text(json.dumps(zero_shot["student"]))
    split_size = len(train_ds)  # type: ignore[arg-type]
    unreadable = UnreadableSamples(accelerator, log, split_size=split_size, max_fraction=cfg.data.max_unreadable)
    completed = self_train(
        trainer,
        loader=loader,
        sampler=sampler,
        dataset=train_ds,
        progress=progress,
        total_steps=total_steps,
        evaluate=evaluate,
        unreadable=unreadable,
    )
    if not completed:
        accelerator.print(f"[crossmost] stopped after step {progress.global_step} (run.stop_after_steps)")
        accelerator.end_training()
        return {}
    final = evaluate("final model (last step)")
    damaged = [
        *skipped_at_indexing(train_ds, eval_ds),
        *(f"{cfg.data.train_split}: {line}" for line in unreadable.gather()),
        *(f"{cfg.data.eval_split}: {line}" for line in final["student"].get("unreadable/samples", [])),
    ]
    if accelerator.is_main_process:
        # Saved models hold plain weights: low-rank adapters are folded in (outputs unchanged).
        merge_lora(student)
        merge_lora(teacher.module)
        student.save_pretrained(run_dir / "model")
        teacher_model: Any = teacher.module
        teacher_model.save_pretrained(run_dir / "teacher")
        finish_run_folder(run_dir, cfg, classnames, final, progress, unreadable=damaged)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def finish_run_folder(
    run_dir: Path,
    cfg: TrainConfig,
    classnames: list[str],
    final: dict[str, dict[str, Any]],
    progress: Any,
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
        title=f"Cross-MoST self-training: {Path(cfg.data.root).name}",
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


def run_command(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """``crossmost-train selftrain`` on a resolved and checked config."""
    run_selftrain(cfg)
    return 0
