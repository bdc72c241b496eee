"""Typed configuration of every crossmost-train command.

One nested dataclass tree; YAML presets and ``key=value`` overrides are overlays on its defaults (see
:mod:`crossmost_train.config.loading`). Defaults follow the paper where the authors' code has a bug and the authors'
code where it made a deliberate choice the paper leaves open; each such difference has a field here, listed in the
package README.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from crossmost_losses import ObjectiveConfig as LossObjectiveConfig
from crossmost_train.config.bounds import within


@dataclass
class DataConfig:
    """Where the prepared dataset lives and how it is read."""

    root: str = ""
    """Folder of a prepared dataset (``manifest.json`` plus shards), made by ``crossmost-data render/synth``; with
    ``streaming``, also a URL that fsspec opens (``s3://…``, ``gs://…``, ``https://…``, ``file://…``)."""
    streaming: bool = False
    """Read the shards as streams, each front to back, from ``root`` (a folder or a URL), split by process and
    loader worker, instead of by random access into a local folder: for corpora larger than one disk."""
    shuffle_buffer: int = field(default=128, metadata=within(0))
    """With ``streaming``: samples held (undecoded) in each loader worker's shuffle buffer for training."""
    train_split: str = "train"
    eval_split: str = "test"
    views_per_object: int = field(default=0, metadata=within(0))
    """Use only the first k rendered views of each object (the paper's Table 5 ablation); 0 uses all of them."""
    eval_view: int = field(default=0, metadata=within(0))
    """Index of the fixed view scored by the single-view ``image`` accuracy."""
    num_points: int = field(default=0, metadata=within(0))
    """Points per cloud fed to the model; 0 takes the model config's ``num_points``."""
    image_mask_ratio: float = field(default=0.3, metadata=within(0, 1))
    """Fraction of image mask blocks masked for the student (MIM)."""
    mask_block_patches: int = field(default=2, metadata=within(1))
    """Side of an image mask block in ViT patches (2 × 16 px = the authors' 32-pixel blocks)."""
    image_augment: dict[str, Any] = field(default_factory=dict)
    """Fields of ``crossmost_data.loader.ImageAugmentConfig`` to change for training (e.g. ``strong_scale``,
    ``rand_augment``); empty keeps the official pipelines."""
    point_augment: dict[str, Any] = field(default_factory=dict)
    """Fields of ``crossmost_data.loader.PointAugmentConfig`` to change for training (e.g. ``strong_scale``,
    ``translate``, ``dropout_max``); empty keeps the official pipelines, which were made for 8192-point clouds."""
    on_corrupt: Literal["skip", "raise"] = "skip"
    """A damaged sample in a shard is skipped (logged, listed) or stops the run."""
    max_unreadable: float = field(default=0.5, metadata=within(0, 1))
    """The share of a split that may be unreadable (and skipped) before the run stops with one message: beyond it
    the data is broken rather than damaged."""
    num_workers: int = field(default=2, metadata=within(0))
    seed: int = field(default=0, metadata=within(0))
    """Seed of the per-sample view choice and augmentations (a function of seed, epoch and index)."""


@dataclass
class ModelConfig:
    """Which model is built and which of its parts are frozen."""

    name: str = "vit-b16-pointbert"
    """A model config of ``crossmost_models.list_models()``."""
    pretrained: str = ""
    """A ``save_pretrained`` folder (e.g. the output of ``pretrain``), an open_clip pretrained tag or a local
    open_clip checkpoint for the CLIP towers; empty: random towers (tests)."""
    point_pretrained: str = ""
    """A ULIP / Point-BERT / Cross-MoST checkpoint for the point branch (loaded strictly); empty: none."""
    require_pretrained: bool = True
    """``selftrain``, ``evaluate`` and ``predict`` refuse to start when ``pretrained`` (or, with
    ``init_point_encoder``, ``point_pretrained``) is empty and ``pretrained`` is not a saved model: random towers
    score chance. The tiny presets set it to false."""
    classnames: list[str] = field(default_factory=list)
    """Class names of the classifier; empty takes them from the dataset manifest (they must agree when both given)."""
    templates: str = "paper"
    """Prompt templates initialising the classifier: ``paper`` (2 templates), ``modelnet40_64`` (the authors' code),
    or a path to a JSON list."""
    point_tokenizer_pretrained: str = ""
    """A checkpoint whose mini-PointNet tokenizer alone is loaded into the point tower (Point-BERT's ``dVAE.pth``, a
    Point-BERT, ULIP or Cross-MoST checkpoint, or a crossmost model); every other weight stays as built."""
    init_point_encoder: bool = True
    """False is the paper's "Init ✗" ablation (Table 3): the point tower (transformer, tokens, positions, both point
    projections and the MPM head) starts from random weights instead of ``point_pretrained``, while its pre-trained
    tokenizer stays, as in the authors' code: the one of ``point_tokenizer_pretrained`` when set, else that of
    ``point_pretrained``, else the one the model was built or loaded with."""
    freeze_point_tokenizer: bool = True
    """The mini-PointNet tokenizer never trains (spec §1.1) and is left out of the optimiser."""
    freeze_tokenizer_batchnorm: bool = True
    """Keep the frozen tokenizer's BatchNorm statistics fixed too. The authors' code let them drift (spec §7.4.11)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``create_model`` (architecture overrides, for example ``num_group``)."""


@dataclass(frozen=True)
class TrainingObjectiveConfig(LossObjectiveConfig):
    """The ``objective`` section of a training run (DESIGN.md §4).

    ``crossmost_losses.ObjectiveConfig`` is the one definition of the objective's settings (the strategy,
    thresholds, term weights and InfoNCE settings, documented there, with their checks); this section is that
    class with three changes, which is why it has a name of its own:

    * training defaults where a run differs from the bare losses: ``image_threshold`` 0.80 and
      ``point_threshold`` 0.82 (the ``independent`` baseline's), ``gather_alignment`` on (negatives from every
      process, so the objective is that of the global batch) and ``check_finite`` off (the loop checks the terms);
    * the masked-modelling ablation switches ``masked_modeling`` and ``masked_modeling_off_drops_alignment``;
    * the decisions that follow from the term switches: which inputs are masked (:meth:`masks_images`,
      :meth:`masks_points`), whether DDP must look for unused heads (:meth:`drops_a_head`), and the losses config
      the run's ``CrossMoSTObjective`` is built from (:meth:`loss_config`).

    Keys are ``objective.<field>``. Term weights are per term; a weight of 0 switches a term off. The section is
    frozen like the losses config it extends: presets and overrides replace it, and its values are checked when
    they are set.
    """

    image_threshold: float = 0.80
    """Image threshold of the ``independent`` strategy (the baseline) and of the ``image`` strategy."""
    point_threshold: float = 0.82
    """Point threshold of the ``independent`` strategy (the baseline) and of the ``point`` strategy."""
    gather_alignment: bool = True
    """InfoNCE negatives from every process, so the objective is the one of the global batch for any number of
    processes (the authors' code: per-GPU negatives)."""
    check_finite: bool = False
    """Check every loss input for NaN/inf (one synchronisation each). The loop always checks the loss terms."""
    masked_modeling: bool = True
    """False is the "MM ✗" ablation: no masks, so no MIM/MPM (and no global-local alignment, which needs masked
    tokens)."""
    masked_modeling_off_drops_alignment: bool = False
    """With ``masked_modeling`` off, also drop the image↔point alignment, as the authors' code did (spec §2.8); the
    paper describes dropping only MIM/MPM."""

    def masks_images(self) -> bool:
        """Whether the student's image patches are masked (only when a term uses the masked patches)."""
        return self.masked_modeling and (self.mim_weight > 0 or self.global_local_image_weight > 0)

    def masks_points(self) -> bool:
        """Whether the student's point groups are masked (only when a term uses the masked tokens)."""
        return self.masked_modeling and (self.mpm_weight > 0 or self.global_local_point_weight > 0)

    def drops_a_head(self) -> bool:
        """Whether a term with a head of its own (MIM, MPM, a global-local alignment, the InfoNCE) is off, so that
        some parameters get no gradient (DDP must then look for them)."""
        terms = self.loss_config()
        weights = (terms.mim_weight, terms.mpm_weight, terms.global_local_image_weight, terms.global_local_point_weight)
        return any(w == 0 for w in weights) or terms.alignment_weight == 0

    def loss_config(self) -> LossObjectiveConfig:
        """The ``crossmost_losses.ObjectiveConfig`` of this section, with the ablation switches applied."""
        values = {f.name: getattr(self, f.name) for f in fields(LossObjectiveConfig)}
        if not self.masked_modeling:
            values.update(mim_weight=0.0, mpm_weight=0.0, global_local_image_weight=0.0, global_local_point_weight=0.0)
            if self.masked_modeling_off_drops_alignment:
                values["alignment_weight"] = 0.0
        return LossObjectiveConfig(**values)


@dataclass
class OptimConfig:
    """AdamW with layer-wise lr decay, batch-scaled learning rate, optional clipping."""

    base_lr: float = field(default=2e-5, metadata=within(0, 1))
    """Learning rate per 256 samples: lr = base_lr × global_batch_size / 256."""
    min_lr: float = field(default=1e-6, metadata=within(0, 1))
    """Cosine floor per 256 samples (scaled like ``base_lr``)."""
    global_batch_size: int = field(default=512, metadata=within(1))
    """Declared global batch: batch_size_per_device × grad_accum_steps × processes must equal it."""
    batch_size_per_device: int = field(default=0, metadata=within(0))
    """Samples per process and micro-step; 0 derives it from the global batch."""
    grad_accum_steps: int = field(default=1, metadata=within(1))
    weight_decay: float = field(default=0.05, metadata=within(0))
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata=within(0, 1))
    eps: float = field(default=1e-8, metadata=within(0, low_open=True))
    layer_decay: float = field(default=0.65, metadata=within(0, 1, low_open=True))
    """ViT layer-wise lr decay: a parameter of layer ``i`` (of L+1) gets scale layer_decay^(L+1−i)."""
    decay_logit_scale: bool = False
    """Apply weight decay to the 0-D ``logit_scale``. The authors' code did (only exactly 1-D tensors were exempt),
    which pulls the classifier temperature towards 1; off by default."""
    grad_clip: float = field(default=0.0, metadata=within(0))
    """Clip the global gradient norm to this value; 0 disables (the authors' code never clipped)."""
    fused: bool = True
    """Use the fused AdamW kernel where the device supports it (foreach otherwise)."""


@dataclass
class ScheduleConfig:
    """Length of training and the learning-rate schedule."""

    epochs: float = field(default=200.0, metadata=within(0, low_open=True))
    max_steps: int = field(default=0, metadata=within(0))
    """Total optimiser steps of the schedule; 0 derives it from ``epochs``."""
    warmup_epochs: float = field(default=1.0, metadata=within(0))
    warmup_steps: int = field(default=-1, metadata=within(-1))
    """Linear-warmup steps; -1 derives them from ``warmup_epochs``."""


@dataclass
class EmaConfig:
    """The EMA teacher (DESIGN.md §5)."""

    momentum_start: float = field(default=0.99, metadata=within(0, 1))
    momentum_end: float = field(default=0.9998, metadata=within(0, 1))
    warmup_steps: int = field(default=400, metadata=within(0))
    """μ(step) = start + (end − start) · min(1, step / warmup_steps)."""
    buffers: Literal["average", "copy"] = "average"
    """Floating buffers (BatchNorm statistics) are averaged like parameters (as the authors' code did) or copied
    from the student. Integer buffers are always copied."""


@dataclass
class MemoryConfig:
    """The memory plan of self-training: which parameters train, activation checkpointing and an EMA teacher that
    shares what does not train (precision is ``run.mixed_precision``). The defaults are the paper's setting: every
    parameter but the point tokenizer trains, nothing is recomputed, the teacher is a full copy. See "Self-training
    large towers on one GPU" in the training guide for what each plan costs."""

    trainable: Literal["all", "last_blocks", "norms_and_classifier", "lora"] = "all"
    """``all``: every parameter (but the tokenizer when ``model.freeze_point_tokenizer``); ``last_blocks``: the last
    ``memory.last_blocks`` blocks of each tower and what follows them, the classifier and the heads;
    ``norms_and_classifier``: the towers' LayerNorms, the classifier and the masked-modelling heads; ``lora``:
    low-rank adapters on the attention and MLP matrices of every block, the classifier and the heads."""
    last_blocks: int = field(default=2, metadata=within(1))
    """Blocks trained at the top of each tower with ``trainable=last_blocks``."""
    lora_rank: int = field(default=8, metadata=within(1))
    """Rank of the low-rank adapters with ``trainable=lora``."""
    lora_alpha: float = field(default=16.0, metadata=within(0, low_open=True))
    """Scale numerator of the adapters: the update is (alpha / rank) · B A."""
    activation_checkpointing: bool = False
    """Recompute the towers' block activations in the backward pass instead of keeping them (about one more forward
    of the blocks per step; gradients unchanged)."""
    teacher_shares_frozen: bool = False
    """The EMA teacher references the student's frozen parameters (and the fixed tokenizer statistics) instead of
    copying them; only what trains gets a moving average. Off, the teacher is a full copy as in the paper (whose
    frozen weights it averages with themselves)."""


@dataclass
class RunConfig:
    """Run folder, precision, checkpoints, logging."""

    output_dir: str = "runs/crossmost"
    seed: int = field(default=0, metadata=within(0))
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast on CUDA, full precision on CPU."""
    compile: bool = False
    """Wrap the student in ``torch.compile``."""
    checkpoint_every: int = field(default=500, metadata=within(0))
    """Save a resumable checkpoint every N optimiser steps (and always at the end); 0 saves only at the end."""
    keep_last: int = field(default=2, metadata=within(1))
    resume: str = "auto"
    """``auto`` resumes from the newest checkpoint in the run folder, ``never`` starts fresh, or a checkpoint path."""
    stop_after_steps: int = field(default=0, metadata=within(0))
    """Stop (with a checkpoint) after this many optimiser steps without changing the schedule; 0 runs to the end."""
    log_every: int = field(default=10, metadata=within(1))
    eval_every_epochs: int = field(default=0, metadata=within(0))
    """Evaluate every N epochs for the curves (never used to select a model); 0 evaluates only at the end."""
    progress_bar: bool = True
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])
    find_unused_parameters: Literal["auto", "yes", "no"] = "auto"
    """DDP ``find_unused_parameters``; ``auto`` switches it on when a loss term is off."""


@dataclass
class EvalConfig:
    """Evaluation protocol (DESIGN.md §5)."""

    batch_size: int = field(default=64, metadata=within(1))
    joint_rule: Literal["probability", "logit"] = "probability"
    """``joint`` combines image* and point by the mean of their softmax probabilities, or of their logits."""
    subsets: Literal["auto", "none", "modelnet40"] = "auto"
    """Score the ModelNet40 medium/hard class subsets; ``auto`` does so when the classes are ModelNet40's."""
    subset_protocol: Literal["forty-way", "restricted"] = "forty-way"
    """``forty-way``: all-class predictions scored on the subset's test objects; ``restricted``: the argmax over
    the subset's classes only."""
    evaluate_teacher: bool = True
    """Also report the EMA teacher (the student is the reported model)."""
    confusion_matrix: bool = True


@dataclass
class PretrainConfig:
    """``pretrain``: ULIP alignment of the point tower, or CLIP pre-training of tiny image/text towers."""

    task: Literal["ulip", "clip"] = "ulip"
    clip_model: str = ""
    """open_clip architecture for ``--task clip`` (``create_clip``); empty takes the model config's image tower."""
    clip_pretrained: str = ""
    """A ``pretrain --task clip`` output folder whose towers the ULIP alignment uses."""
    caption_templates: list[str] = field(
        default_factory=lambda: ["a photo of a {}.", "a 3D model of a {}.", "a rendering of a {}."]
    )
    frozen_parameters: list[str] = field(default_factory=list)
    """CLIP: name prefixes of open_clip parameters that do not train (e.g. ``token_embedding``: with captions
    from a few templates, the 49408×W token table is most of the text tower's parameters and of a step's cost)."""
    train_point_tokenizer: bool = False
    """ULIP: the mini-PointNet tokenizer trains with the rest of the point tower. Off, it keeps its loaded (e.g.
    Point-BERT) weights, as self-training does; on, for a point tower aligned from scratch, whose tokenizer would
    otherwise stay at its random initialisation."""
    class_positives: bool = False
    """CLIP: objects of the same class are positives of each other (UniCL), not negatives; for captions made from
    class names, where two objects of one class share their caption."""
    learnable_logit_scale: bool = False
    """ULIP: logits are ``logit_scale``·cosine (False) or exp(learnable scale) · cosine."""
    logit_scale: float = field(default=100.0, metadata=within(0, low_open=True))
    """ULIP: the (initial) logit scale; 100 matches the temperature CLIP ViT-B/16 learned. Towers pre-trained with
    another temperature (``pretrain --task clip`` of tiny towers) want their own, so that the point and image
    branches share one calibrated classifier."""
    base_lr: float = field(default=5e-4, metadata=within(0, 1))
    """Learning rate (not batch-scaled; the authors' ULIP run used 5e-4)."""
    min_lr: float = field(default=1e-5, metadata=within(0, 1))
    weight_decay: float = field(default=0.1, metadata=within(0))
    betas: tuple[float, float] = field(default=(0.9, 0.98), metadata=within(0, 1))
    batch_size_per_device: int = field(default=64, metadata=within(1))
    epochs: float = field(default=300.0, metadata=within(0, low_open=True))
    warmup_epochs: float = field(default=1.0, metadata=within(0))


@dataclass
class TrainConfig:
    """The whole configuration of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: TrainingObjectiveConfig = field(default_factory=TrainingObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    run: RunConfig = field(default_factory=RunConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


def former_objective_name(module: str) -> type[TrainingObjectiveConfig]:
    """:class:`TrainingObjectiveConfig` under its former name ``<module>.ObjectiveConfig`` (kept for one release,
    with a ``DeprecationWarning``): the name said the same as ``crossmost_losses.ObjectiveConfig`` with other
    defaults."""
    warnings.warn(
        f"{module}.ObjectiveConfig is deprecated and will be removed in the next release: the objective section of a "
        "training run is crossmost_train.config.TrainingObjectiveConfig (crossmost_losses.ObjectiveConfig is the "
        "losses' own config)",
        DeprecationWarning,
        stacklevel=3,
    )
    return TrainingObjectiveConfig


def __getattr__(name: str) -> object:
    if name == "ObjectiveConfig":
        return former_objective_name(__name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
