"""Which parameters of a model train: a :class:`TrainablePlan` applied to the model sets ``requires_grad``, adds
low-rank adapters where the plan asks for them, and returns a :class:`TrainableReport` of what trains.

Plans (``TrainablePlan.mode``):

- ``all``: every parameter trains except the point tokenizer when ``freeze_point_tokenizer`` (Cross-MoST's own
  setting). Nothing else is touched.
- ``last_blocks``: in each tower the last ``last_blocks`` transformer blocks and everything after them (final
  norms, projections), plus the parts outside the towers; the stem (patch or group embedding, class, mask and
  position tokens, the tokenizer) and the earlier blocks are frozen, so no activation of the frozen blocks is kept
  for a backward pass.
- ``norms_and_classifier``: the LayerNorms of both towers, the classifier and the masked-modelling heads
  (:data:`~crossmost_models.parts.HEAD_PREFIXES`).
- ``lora``: low-rank adapters (:mod:`crossmost_models.lora`) on every attention and MLP matrix of the towers'
  blocks, plus the classifier and the heads; every pre-trained weight is frozen.

A plan only narrows: a parameter frozen before the plan is applied stays frozen. Where the point tokenizer ends up
frozen and ``freeze_tokenizer_batchnorm`` is set, :func:`set_train_mode` keeps its BatchNorm statistics fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from torch import nn

from crossmost_models.lora import add_lora
from crossmost_models.parts import HEAD_PREFIXES, TowerLayout, point_tokenizer, tower_layouts

__all__ = ["TrainableMode", "TrainablePlan", "TrainableReport", "apply_trainable_plan", "set_train_mode"]

TrainableMode = Literal["all", "last_blocks", "norms_and_classifier", "lora"]


@dataclass(frozen=True)
class TrainablePlan:
    """What trains.

    Attributes:
        mode: ``all``, ``last_blocks``, ``norms_and_classifier`` or ``lora`` (module docstring).
        last_blocks: blocks trained at the top of each tower for ``last_blocks`` (at most the tower's depth).
        lora_rank: the adapters' rank ``r`` for ``lora``.
        lora_alpha: the adapters' scale numerator (update scaled by ``alpha / rank``).
        freeze_point_tokenizer: the mini-PointNet tokenizer never trains.
        freeze_tokenizer_batchnorm: a frozen tokenizer also keeps its BatchNorm statistics (eval mode in training).
    """

    mode: TrainableMode = "all"
    last_blocks: int = 2
    lora_rank: int = 8
    lora_alpha: float = 16.0
    freeze_point_tokenizer: bool = True
    freeze_tokenizer_batchnorm: bool = True

    def __post_init__(self) -> None:
        if self.mode not in get_args(TrainableMode):
            raise ValueError(f"trainable mode must be one of {', '.join(get_args(TrainableMode))}; got {self.mode!r}")
        if self.last_blocks < 1:
            raise ValueError(f"last_blocks must be ≥ 1, got {self.last_blocks}")
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be ≥ 1, got {self.lora_rank}")
        if not self.lora_alpha > 0:
            raise ValueError(f"lora_alpha must be > 0, got {self.lora_alpha}")

    def freezes_tokenizer(self) -> bool:
        """Whether the point tokenizer ends up frozen (``freeze_point_tokenizer``, or a frozen stem)."""
        return self.freeze_point_tokenizer or self.mode == "last_blocks"


@dataclass(frozen=True)
class TrainableReport:
    """What a plan left trainable.

    Attributes:
        mode: the plan's mode.
        trainable: trainable parameter elements (adapters included).
        frozen: frozen parameter elements.
        trainable_bytes: bytes of the trainable parameters.
        frozen_bytes: bytes of the frozen parameters.
        parts: top-level part → ``(trainable, total)`` elements.
        adapters: matrices that carry a low-rank adapter.
        blocks_trained: tower → blocks that train (all of them for ``all``, ``norms_and_classifier`` and ``lora``,
            whose adapters or norms sit in every block).
        constant_buffers: names of buffers the training never changes (those of a frozen tokenizer with fixed
            BatchNorm statistics): an EMA teacher may share them with the student.
    """

    mode: str
    trainable: int
    frozen: int
    trainable_bytes: int
    frozen_bytes: int
    parts: dict[str, tuple[int, int]]
    adapters: int = 0
    blocks_trained: dict[str, int] = field(default_factory=dict)
    constant_buffers: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """All parameter elements."""
        return self.trainable + self.frozen

    def lines(self) -> list[str]:
        """A readable summary, one line per part after a total line."""
        share = 100.0 * self.trainable / self.total if self.total else 0.0
        head = f"trainable parameters ({self.mode}): {self.trainable:,} of {self.total:,} ({share:.2f} %)"
        if self.adapters:
            head += f", {self.adapters} low-rank adapters"
        out = [head]
        for name, (trainable, total) in self.parts.items():
            blocks = f", {self.blocks_trained[name]} blocks" if name in self.blocks_trained else ""
            out.append(f"  {name}: {trainable:,} of {total:,}{blocks}")
        return out


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm | nn.GroupNorm | nn.RMSNorm) or type(module).__name__.endswith("LayerNorm")


def _selected(model: nn.Module, plan: TrainablePlan, layouts: list[TowerLayout]) -> set[str]:
    """Names of the parameters the plan trains (before the narrowing and the tokenizer)."""
    names = [n for n, _ in model.named_parameters()]
    tower_prefixes = tuple(f"{t.prefix}." for t in layouts)
    heads = {n for n in names if n.startswith(HEAD_PREFIXES)}
    if plan.mode == "last_blocks":
        keep: set[str] = set()
        for tower in layouts:
            first = tower.depth - min(plan.last_blocks, tower.depth) + 1
            keep |= {n for n in names if (layer := tower.layer_of(n)) is not None and layer >= first}
        keep |= {n for n in names if not n.startswith(tower_prefixes)}
        stems = tuple(s for t in layouts for s in t.stem)
        return keep | {n for n in heads if not n.startswith(stems)}
    if plan.mode == "norms_and_classifier":
        norms = {
            f"{module_name}.{p}" if module_name else p
            for tower in layouts
            for module_name, module in model.named_modules()
            if module_name.startswith(tower.prefix + ".") and _is_norm(module)
            for p, _ in module.named_parameters(recurse=False)
        }
        return norms | heads
    # lora: the adapters' factors and the heads
    return {n for n in names if n.endswith((".lora_A", ".lora_B"))} | heads


def apply_trainable_plan(model: nn.Module, plan: TrainablePlan | None = None) -> TrainableReport:
    """Apply ``plan`` to ``model`` in place and report what trains.

    ``all`` works on any model with the ``CrossModalModel`` interface (a point tokenizer at
    ``point_encoder.encoder`` when it is to be frozen); the other modes need the towers' block layout
    (:func:`~crossmost_models.parts.tower_layouts`).

    Args:
        model: the student, before it is copied into a teacher, wrapped or compiled.
        plan: what trains (default: :class:`TrainablePlan` ``()``, Cross-MoST's own setting).

    Returns:
        A :class:`TrainableReport`.

    Raises:
        TypeError: a mode other than ``all`` on a model whose towers' blocks are not known.
        AttributeError: the tokenizer is to be frozen but the model has none.
    """
    plan = plan if plan is not None else TrainablePlan()
    layouts: list[TowerLayout] = []
    adapters = 0
    if plan.mode != "all":
        layouts = tower_layouts(model)
        if plan.mode == "lora":
            for tower in layouts:
                adapters += add_lora(tower.blocks, rank=plan.lora_rank, alpha=plan.lora_alpha)
        before = {n for n, p in model.named_parameters() if p.requires_grad}
        chosen = _selected(model, plan, layouts)
        for name, param in model.named_parameters():
            adapter = name.endswith((".lora_A", ".lora_B"))
            param.requires_grad_(name in chosen and (name in before or adapter))
    constant: tuple[str, ...] = ()
    if plan.freezes_tokenizer():
        tokenizer = point_tokenizer(model)
        tokenizer.requires_grad_(False)
        if plan.freeze_tokenizer_batchnorm:
            prefix = next(n for n, m in model.named_modules() if m is tokenizer)
            constant = tuple(f"{prefix}.{b}" for b, _ in tokenizer.named_buffers())
    return _report(model, plan, layouts, adapters, constant)


def _report(
    model: nn.Module, plan: TrainablePlan, layouts: list[TowerLayout], adapters: int, constant: tuple[str, ...]
) -> TrainableReport:
    parts: dict[str, list[int]] = {}
    sizes = [0, 0, 0, 0]  # trainable, frozen, trainable bytes, frozen bytes
    for name, param in model.named_parameters():
        part = parts.setdefault(name.split(".", 1)[0], [0, 0])
        part[1] += param.numel()
        slot = 0 if param.requires_grad else 1
        sizes[slot] += param.numel()
        sizes[slot + 2] += param.numel() * param.element_size()
        if param.requires_grad:
            part[0] += param.numel()
    blocks: dict[str, int] = {}
    for tower in layouts:
        blocks[tower.prefix] = sum(any(p.requires_grad for p in b.parameters()) for b in tower.blocks)
    return TrainableReport(
        mode=plan.mode,
        trainable=sizes[0],
        frozen=sizes[1],
        trainable_bytes=sizes[2],
        frozen_bytes=sizes[3],
        parts={k: (v[0], v[1]) for k, v in parts.items()},
        adapters=adapters,
        blocks_trained=blocks,
        constant_buffers=constant,
    )


def set_train_mode(model: nn.Module, plan: TrainablePlan | None = None) -> None:
    """``model.train()``, keeping a frozen tokenizer's BatchNorm layers in eval mode when the plan says so."""
    plan = plan if plan is not None else TrainablePlan()
    model.train()
    if plan.freezes_tokenizer() and plan.freeze_tokenizer_batchnorm:
        point_tokenizer(model).eval()
