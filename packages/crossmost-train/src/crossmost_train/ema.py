"""The EMA teacher: a parameter- and buffer-wise moving average of the unwrapped student.

The teacher is a deep copy of the student made before ``accelerator.prepare``; it is never wrapped (no DDP, no
compile), always in eval mode, never receives gradients, and is updated once per optimiser step (not per
micro-batch) from the *unwrapped* student with two ``torch._foreach`` calls. Every process applies the same update
to the same weights, so the teachers stay identical without communication. It has ``state_dict`` /
``load_state_dict`` (weights plus the number of updates) for ``accelerator.register_for_checkpointing``.

With ``share_frozen``, the teacher references the student's frozen parameters (and the buffers named constant)
instead of copying them: an EMA of a tensor that never changes is that tensor, so only what trains gets a copy and
a moving average. Under a memory plan that trains a small part of a giant student, this removes almost a whole
model from memory.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn


def ema_momentum(step: int, *, start: float, end: float, warmup_steps: int) -> float:
    """μ(step) = start + (end − start) · min(1, step / warmup_steps); ``end`` from the start if warmup_steps ≤ 0."""
    if warmup_steps <= 0:
        return end
    return start + (end - start) * min(1.0, step / warmup_steps)


class EmaTeacher:
    """Exponential moving average of a student model.

    Args:
        student: the model to copy; pass it BEFORE ``accelerator.prepare`` (a wrapped model must not be copied).
        momentum_start: μ at step 0 (0.99).
        momentum_end: μ after the warm-up (0.9998).
        warmup_steps: optimiser steps of the linear momentum ramp (400).
        buffers: ``average`` floating buffers like parameters, or ``copy`` them from the student. Integer buffers
            (``num_batches_tracked``) are always copied.
        share_frozen: reference the student's parameters with ``requires_grad=False`` instead of copying them (apply
            the memory plan first). They must stay frozen for the whole run.
        constant_buffers: names of student buffers that never change (with ``share_frozen``: referenced, not
            copied), e.g. ``TrainableReport.constant_buffers``.
    """

    def __init__(
        self,
        student: nn.Module,
        *,
        momentum_start: float = 0.99,
        momentum_end: float = 0.9998,
        warmup_steps: int = 400,
        buffers: Literal["average", "copy"] = "average",
        share_frozen: bool = False,
        constant_buffers: Collection[str] = (),
    ) -> None:
        if buffers not in ("average", "copy"):
            raise ValueError(f"buffers must be 'average' or 'copy', got {buffers!r}")
        named_buffers = dict(student.named_buffers())
        unknown = sorted(set(constant_buffers) - set(named_buffers))
        if unknown:
            raise ValueError(f"constant_buffers names buffers the student does not have: {unknown[:5]}")
        shared: dict[int, Any] = {}
        if share_frozen:
            shared = {id(p): p for p in student.parameters() if not p.requires_grad}
            shared.update({id(named_buffers[n]): named_buffers[n] for n in constant_buffers})
        # A pre-filled memo makes deepcopy reference these tensors instead of copying them.
        self.module = copy.deepcopy(student, memo=dict(shared))
        self.module.eval()
        self.module.requires_grad_(False)
        self.momentum_start = momentum_start
        self.momentum_end = momentum_end
        self.warmup_steps = warmup_steps
        self.buffer_mode = buffers
        self.num_updates = 0
        self._param_names = [n for n, _ in self.module.named_parameters()]
        self._buffer_names = [n for n, _ in self.module.named_buffers()]
        self.shared_names = frozenset(
            n for n, t in (*self.module.named_parameters(), *self.module.named_buffers()) if id(t) in shared
        )
        """Names of the parameters and buffers the teacher shares with the student (empty without sharing)."""
        self._param_index = [i for i, n in enumerate(self._param_names) if n not in self.shared_names]
        self._buffer_index = [i for i, n in enumerate(self._buffer_names) if n not in self.shared_names]
        self._params: list[Tensor] = []
        self._buffers: list[Tensor] = []
        self._collect()
        self._checked_students: set[int] = set()

    def _collect(self) -> None:
        """The teacher's own (averaged or copied) parameters and buffers, in the student's order."""
        params = [p for _, p in self.module.named_parameters()]
        buffers = [b for _, b in self.module.named_buffers()]
        self._params = [params[i] for i in self._param_index]
        self._buffers = [buffers[i] for i in self._buffer_index]

    def momentum(self, step: int | None = None) -> float:
        """The momentum used by the update at optimiser step ``step`` (default: the number of updates so far)."""
        step = self.num_updates if step is None else step
        return ema_momentum(step, start=self.momentum_start, end=self.momentum_end, warmup_steps=self.warmup_steps)

    def _check_student(self, student: nn.Module) -> None:
        if id(student) in self._checked_students:
            return
        names = [n for n, _ in student.named_parameters()]
        if names != self._param_names:
            missing = sorted(set(self._param_names) - set(names))[:5]
            extra = sorted(set(names) - set(self._param_names))[:5]
            raise ValueError(
                "the student's parameters do not match the teacher's (pass the UNWRAPPED student, "
                f"accelerator.unwrap_model(model)); missing {missing}, unexpected {extra}"
            )
        if [n for n, _ in student.named_buffers()] != self._buffer_names:
            raise ValueError("the student's buffers do not match the teacher's")
        self._checked_students.add(id(student))

    @torch.no_grad()
    def update(self, student: nn.Module, step: int | None = None) -> float:
        """teacher ← μ·teacher + (1 − μ)·student for every parameter; buffers averaged or copied.

        Args:
            student: the unwrapped student (same parameter names and order as the teacher).
            step: the global optimiser step that just finished (0 for the first); default: the update count.

        Returns:
            The momentum μ that was applied.
        """
        self._check_student(student)
        mu = self.momentum(step)
        student_params: list[Tensor] = _pick(student.parameters(), self._param_index, len(self._param_names))
        if student_params:
            torch._foreach_mul_(self._params, mu)
            torch._foreach_add_(self._params, student_params, alpha=1.0 - mu)
        floats_t: list[Tensor] = []
        floats_s: list[Tensor] = []
        student_buffers = _pick(student.buffers(), self._buffer_index, len(self._buffer_names))
        for t, s in zip(self._buffers, student_buffers, strict=True):
            if self.buffer_mode == "average" and t.is_floating_point():
                floats_t.append(t)
                floats_s.append(s.detach())
            else:
                t.copy_(s)
        if floats_t:
            torch._foreach_mul_(floats_t, mu)
            torch._foreach_add_(floats_t, floats_s, alpha=1.0 - mu)
        self.num_updates += 1
        return mu

    def to(self, device: torch.device | str) -> EmaTeacher:
        """Move the teacher (in place) and return it."""
        self.module.to(device)
        self._collect()
        return self

    def state_dict(self) -> dict[str, Any]:
        """Teacher weights and the number of updates, for ``accelerator.register_for_checkpointing``. With sharing,
        only the teacher's own tensors and the names of the shared ones (which the student's state restores)."""
        module = self.module.state_dict()
        if not self.shared_names:
            return {"module": module, "num_updates": self.num_updates}
        own = {k: v for k, v in module.items() if k not in self.shared_names}
        return {"module": own, "num_updates": self.num_updates, "shared": sorted(self.shared_names)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (strictly: the same tensors, and the same ones shared)."""
        shared = set(state.get("shared", ()))
        if shared != set(self.shared_names):
            raise ValueError(
                f"the saved teacher shares {len(shared)} tensors with its student, this one {len(self.shared_names)}: "
                "resume with the same memory.teacher_shares_frozen and memory plan"
            )
        result = self.module.load_state_dict(state["module"], strict=not shared)
        if shared and (set(result.missing_keys) - shared or result.unexpected_keys):
            raise ValueError(
                f"teacher state does not match: missing {sorted(set(result.missing_keys) - shared)[:5]}, "
                f"unexpected {result.unexpected_keys[:5]}"
            )
        self.num_updates = int(state["num_updates"])


def _pick(tensors: Iterable[Tensor], index: list[int], count: int) -> list[Tensor]:
    """The detached tensors at ``index`` (all of them, in order, when ``index`` covers ``count``)."""
    if len(index) == count:
        return [t.detach() for t in tensors]
    every = list(tensors)
    return [every[i].detach() for i in index]


def extra_storage_bytes(module: nn.Module, other: nn.Module) -> int:
    """Bytes of the distinct storages of ``module``'s parameters and buffers that ``other`` does not also hold: the
    memory an EMA teacher adds to its student."""
    held = {t.untyped_storage().data_ptr() for t in (*other.parameters(), *other.buffers())}
    sizes: dict[int, int] = {}
    for t in (*module.parameters(), *module.buffers()):
        storage = t.untyped_storage()
        if storage.data_ptr() not in held:
            sizes[storage.data_ptr()] = storage.nbytes()
    return sum(sizes.values())
