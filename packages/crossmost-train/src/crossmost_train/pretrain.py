"""Pre-training before self-training (spec §1.8; DESIGN.md §7).

* ``clip``: contrastive image–text training of open_clip towers (e.g. the tiny ones) on the rendered views of a
  prepared (source-domain) dataset, with template captions "a photo of a {}.", "a 3D model of a {}.", … (the caption
  of a sample is drawn from ``(seed, epoch, index)``). Output: ``open_clip_model.safetensors`` (an open_clip state
  dict: ``model.pretrained=<it>`` builds a CrossModalModel on these towers).
* ``ulip``: align the point tower to the frozen image and text towers with the ULIP loss
  ½[CE(p→t)+CE(t→p)] + ½[CE(p→i)+CE(i→p)], logits 100·cosine (or a learnable scale), point features gathered with
  gradient across processes. Only the point encoder and its projection train; the tokenizer stays frozen as in
  self-training. Text per object: a caption template with the class name (frozen text tower, embeddings
  precomputed for every template × class). Output: ``model/`` (``save_pretrained``, for ``model.pretrained``) and
  ``point_branch.safetensors`` (for ``model.point_pretrained`` on other class sets).

Both pick nothing on test labels: the last weights are saved.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import Tensor, nn
from torch.utils.data import Dataset

from crossmost_data.loader import Sample
from crossmost_losses import cross_modal_infonce
from crossmost_models import TrainablePlan, apply_trainable_plan, create_clip, get_model_config, set_train_mode
from crossmost_models.saved_model import save_safetensors
from crossmost_train.accelerator_setup import build_accelerator
from crossmost_train.checkpoint import TrainingProgress
from crossmost_train.config import TrainConfig, save_config
from crossmost_train.engine import FitPlan, LogRecord, LogWindow, StepValues, batch_to_device, fit
from crossmost_train.logging_utils import MetricsLog
from crossmost_train.optim import build_adamw, build_param_groups, build_scheduler
from crossmost_train.run_builder import Components, DatasetBuilder, DataShape, RunBuilder, data_shape


def caption_index(seed: int, epoch: int, index: Tensor, num_templates: int) -> Tensor:
    """Template chosen for each sample, a function of (seed, epoch, index) only."""
    mixed = (index.long() * 2_654_435_761 + epoch * 40_503 + seed * 97) % (2**31 - 1)
    return mixed % num_templates


def _caption_texts(cfg: TrainConfig, classnames: list[str]) -> list[list[str]]:
    from crossmost_models import clean_class_name

    return [[t.format(clean_class_name(c)) for c in classnames] for t in cfg.pretrain.caption_templates]


class _PretrainingStep:
    """One step of a pre-training task for :func:`crossmost_train.engine.fit`: the task's contrastive loss, checked
    on every process, then backward and AdamW; the log line holds the step's loss, the lr and the epoch."""

    def __init__(
        self,
        task: str,
        accelerator: Accelerator,
        model: nn.Module,
        step_loss: Callable[[Sample, int], Tensor],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> None:
        self.task = task
        self.accelerator = accelerator
        self.model = model
        self.step_loss = step_loss
        self.optimizer = optimizer
        self.scheduler = scheduler

    def train_mode(self) -> None:
        """Nothing to do: each task sets its modules' modes once before training."""

    def micro_step(self, batch: Sample, progress: TrainingProgress) -> StepValues:
        """The loss of the batch; unless it is not finite on some process, backward and the optimiser step."""
        batch = batch_to_device(batch, self.accelerator.device)
        loss = self.step_loss(batch, progress.epoch)
        value = float(self.accelerator.reduce(loss.detach(), reduction="mean"))
        if not math.isfinite(value):
            return StepValues(value, {}, {}, nonfinite_terms=["loss"])
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepValues(value, {}, {})

    def after_micro_step(self, values: StepValues, progress: TrainingProgress) -> None:
        """Nothing to note."""

    def after_optimizer_step(self, progress: TrainingProgress) -> dict[str, float]:
        """The schedule's step; returns the lr."""
        self.scheduler.step()
        return {"lr": float(self.scheduler.get_last_lr()[0])}

    def log_record(self, window: LogWindow, stepped: Mapping[str, float], progress: TrainingProgress) -> LogRecord:
        """The last step's loss, the lr and the epoch."""
        return {"loss": window.last.loss, "lr": stepped["lr"], "epoch": progress.epoch}

    def progress_postfix(self, record: LogRecord) -> dict[str, str]:
        """The loss."""
        return {"loss": f"{record['loss']:.3f}"}

    def nonfinite_message(self, values: StepValues, progress: TrainingProgress) -> str:
        """The task, the value and the step."""
        return f"pretrain {self.task}: the loss became {values.loss} at step {progress.global_step}"


def _fit(
    builder: RunBuilder,
    accelerator: Accelerator,
    model: nn.Module,
    step_loss: Callable[[Sample, int], Tensor],
    dataset: Dataset[Sample],
    out: Path,
) -> None:
    """AdamW on the parameters of the prepared ``model`` that require gradients, the warm-up–cosine schedule, and
    :func:`crossmost_train.engine.fit` over ``pretrain.epochs`` of ``dataset``."""
    cfg = builder.cfg
    p = cfg.pretrain
    batch = p.batch_size_per_device
    loader, sampler = builder.train_loader(dataset, batch_size=batch, grad_accum_steps=1, accelerator=accelerator)
    total = max(1, math.ceil(p.epochs * sampler.steps_per_epoch))
    warmup = round(p.warmup_epochs * sampler.steps_per_epoch)
    groups = build_param_groups(model, weight_decay=p.weight_decay)
    optimizer = build_adamw(groups, lr=p.base_lr, betas=p.betas, eps=1e-8, fused=True, device=accelerator.device)
    scheduler = build_scheduler(optimizer, warmup_steps=warmup, total_steps=total, lr=p.base_lr, min_lr=p.min_lr)
    optimizer = accelerator.prepare(optimizer)
    plan = FitPlan(
        total_steps=total,
        stop_at=total,
        samples_per_micro_batch=batch * accelerator.num_processes,
        log_every=cfg.run.log_every,
        description=f"pretrain {p.task}" if cfg.run.progress_bar else None,
    )
    step = _PretrainingStep(p.task, accelerator, model, step_loss, optimizer, scheduler)
    log = MetricsLog(out, accelerator)
    log.truncate_after(-1)  # pre-training always starts afresh: records of an earlier run in this folder go
    fit(step, accelerator=accelerator, loader=loader, sampler=sampler, dataset=dataset, progress=TrainingProgress(),
        plan=plan, log=log)  # fmt: skip


def _symmetric_infonce(rows: Tensor, others: Tensor, logit_scale: Tensor, labels: Tensor | None = None) -> Tensor:
    """The mean of the two directions of the shared InfoNCE, negatives gathered from every process."""
    return cross_modal_infonce(
        rows,
        others,
        image_to_point_weight=0.5,
        point_to_image_weight=0.5,
        gather=True,
        logit_scale=logit_scale,
        labels=labels,
    )


def _freeze_parameters(model: nn.Module, frozen: Sequence[str], name: str) -> None:
    """Stop the parameters of ``model`` whose names start with a prefix in ``frozen`` from requiring gradients (so
    that the optimiser leaves them out and backward skips them).

    Raises:
        ValueError: A prefix matches no parameter.
    """
    named = list(model.named_parameters())
    unknown = [prefix for prefix in frozen if not any(n.startswith(prefix) for n, _ in named)]
    if unknown:
        raise ValueError(f"pretrain.frozen_parameters: no parameter of {name} starts with {', '.join(unknown)}")
    for parameter_name, parameter in named:
        if parameter_name.startswith(tuple(frozen)):
            parameter.requires_grad_(False)


def _components(components: Components | None, dataset_factory: DatasetBuilder | None) -> Components | None:
    """``components``, or the deprecated ``dataset_factory`` as the training dataset of :class:`Components`."""
    if dataset_factory is None:
        return components
    warnings.warn(
        "the dataset_factory argument of pretrain_clip/pretrain_ulip is deprecated and will be removed in the next "
        "release; pass components=Components(train_dataset=...) (crossmost_train.run_builder)",
        DeprecationWarning,
        stacklevel=3,
    )
    return dataclasses.replace(components or Components(), train_dataset=dataset_factory)


def pretrain_clip(
    cfg: TrainConfig, components: Components | None = None, *, dataset_factory: DatasetBuilder | None = None
) -> Path:
    """Contrastive image–text training of open_clip towers; returns the saved state-dict file.

    ``components`` may replace the class names and the training dataset (its samples need ``index``, ``label`` and
    ``image_weak``); ``dataset_factory`` is its deprecated former spelling for the dataset alone.
    """
    builder = RunBuilder(cfg, _components(components, dataset_factory))
    out = Path(cfg.run.output_dir)
    accelerator = build_accelerator(cfg, out)
    set_seed(cfg.run.seed)
    classnames = builder.classnames()
    name = cfg.pretrain.clip_model or get_model_config(cfg.model.name)["clip"]
    clip_model, tokenizer = create_clip(name, cfg.model.pretrained or None)
    clip_model.to(accelerator.device)
    visual: Any = clip_model.visual
    shape = DataShape(int(visual.image_size[0]), int(visual.patch_size[0]), cfg.data.num_points or None)
    dataset = builder.train_dataset(shape, ("image_weak",))
    wrapped = accelerator.prepare(clip_model)
    tokens = tokenizer([t for row in _caption_texts(cfg, classnames) for t in row]).to(accelerator.device)
    num_classes = len(classnames)

    def step_loss(batch: Sample, epoch: int) -> Tensor:
        template = caption_index(cfg.run.seed, epoch, batch["index"], len(cfg.pretrain.caption_templates))
        rows = tokens[template * num_classes + batch["label"].long()]
        with accelerator.autocast():
            image, text, scale = wrapped(batch["image_weak"], rows)[:3]
        image, text = F.normalize(image.float(), dim=-1), F.normalize(text.float(), dim=-1)
        labels = batch["label"].long() if cfg.pretrain.class_positives else None
        return _symmetric_infonce(image, text, scale.float().clamp(max=100), labels)

    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    _freeze_parameters(clip_model, cfg.pretrain.frozen_parameters, name)
    _fit(builder, accelerator, wrapped, step_loss, dataset, out)
    path = out / "open_clip_model.safetensors"
    if accelerator.is_main_process:
        state = {k: v.detach().cpu().contiguous() for k, v in accelerator.unwrap_model(clip_model).state_dict().items()}
        tmp = out / ".open_clip_model.safetensors.tmp"
        save_safetensors(state, tmp, metadata={"open_clip_model": name})
        os.replace(tmp, path)
    accelerator.wait_for_everyone()
    accelerator.print(f"[crossmost] saved {path} (use model.pretrained={path})")
    return path


def pretrain_ulip(
    cfg: TrainConfig, components: Components | None = None, *, dataset_factory: DatasetBuilder | None = None
) -> Path:
    """ULIP alignment of the point tower to frozen CLIP towers; returns the ``model/`` folder.

    ``components`` may replace the class names, the model and the training dataset (its samples need ``index``,
    ``label``, ``image_weak`` and ``points_weak``); ``dataset_factory`` is its deprecated former spelling for the
    dataset alone.
    """
    builder = RunBuilder(cfg, _components(components, dataset_factory))
    out = Path(cfg.run.output_dir)
    accelerator = build_accelerator(cfg, out, find_unused_parameters=True)
    set_seed(cfg.run.seed)
    classnames = builder.classnames()
    model: Any = builder.model(classnames)
    clip_model: Any
    clip_model, tokenizer = create_clip(model.config.clip, cfg.model.pretrained or None, **model.config.clip_kwargs)
    with torch.no_grad():
        texts = [t for row in _caption_texts(cfg, classnames) for t in row]
        text_bank = F.normalize(clip_model.encode_text(tokenizer(texts)).float(), dim=-1).to(accelerator.device)
    del clip_model
    model.requires_grad_(False)
    model.point_encoder.requires_grad_(True)
    model.point_projection.requires_grad_(True)
    # The memory plan is self-training's; here only the tokenizer's freezing applies (its BatchNorm statistics
    # learn the data too when it trains).
    plan = TrainablePlan(
        freeze_point_tokenizer=cfg.model.freeze_point_tokenizer and not cfg.pretrain.train_point_tokenizer,
        freeze_tokenizer_batchnorm=cfg.model.freeze_tokenizer_batchnorm,
    )
    apply_trainable_plan(model, plan)
    model.to(accelerator.device)
    shape = data_shape(cfg, model)
    outputs = ("image_weak", "points_weak")
    dataset = builder.train_dataset(shape, outputs)
    set_train_mode(model, plan)
    model.image_tower.eval()
    num_classes = len(classnames)
    branch = _PointBranch(model, cfg.pretrain.learnable_logit_scale, cfg.pretrain.logit_scale).to(accelerator.device)
    wrapped = accelerator.prepare(branch)

    def step_loss(batch: Sample, epoch: int) -> Tensor:
        template = caption_index(cfg.run.seed, epoch, batch["index"], len(cfg.pretrain.caption_templates))
        text = text_bank[template * num_classes + batch["label"].long()]
        with torch.no_grad(), accelerator.autocast():
            image = F.normalize(model.encode_image(batch["image_weak"]).float(), dim=-1)
        with accelerator.autocast():
            feature, logit = wrapped(batch["points_weak"])
        point = F.normalize(feature.float(), dim=-1)
        return _symmetric_infonce(point, text, logit) + _symmetric_infonce(point, image, logit)

    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    _fit(builder, accelerator, wrapped, step_loss, dataset, out)
    if accelerator.is_main_process:
        model.eval()
        model.save_pretrained(out / "model")
        weights = {
            k: v.detach().cpu().contiguous()
            for k, v in model.state_dict().items()
            # The MPM head and the local projection are not trained here, but a strict crossmost-named point
            # checkpoint carries them (freshly initialised), as the authors' ULIP checkpoint did.
            if k.startswith(("point_encoder.", "point_projection.", "point_local_projection.", "mpm_head."))
        }
        tmp = out / ".point_branch.safetensors.tmp"
        save_safetensors(weights, tmp)
        os.replace(tmp, out / "point_branch.safetensors")
    accelerator.wait_for_everyone()
    accelerator.print(f"[crossmost] saved {out / 'model'} (use model.pretrained={out / 'model'})")
    return out / "model"


class _PointBranch(nn.Module):
    """The trainable part of ULIP pre-training as one module (what DDP wraps): points → (projected feature, logit
    scale: ``pretrain.logit_scale``, or exp of a learnable parameter initialised at its log)."""

    def __init__(self, model: nn.Module, learnable_scale: bool, scale: float = 100.0) -> None:
        super().__init__()
        self.point_encoder = model.point_encoder
        self.point_projection = model.point_projection
        if scale <= 0:
            raise ValueError(f"pretrain.logit_scale must be > 0, got {scale}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)), requires_grad=learnable_scale)

    def forward(self, points: Tensor) -> tuple[Tensor, Tensor]:
        encoder: Any = self.point_encoder
        projection: Any = self.point_projection
        return projection(encoder(points).global_feature), self.log_scale.exp()
