"""The EMA teacher: a parameter- and buffer-wise moving average of the unwrapped student.

The teacher is a deep copy of the student made before ``accelerator.prepare``; it is never wrapped (no DDP, no
compile), always in eval mode, never receives gradients, and is updated once per optimiser step (not per
micro-batch) from the *unwrapped* student with two ``torch._foreach`` calls. Every process applies the same update
to the same weights, so the teachers stay identical without communication. It has ``state_dict`` /
``load_state_dict`` (weights plus the number of updates) for ``accelerator.register_for_checkpointing``.
"""

from __future__ import annotations

import copy
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
    """

    def __init__(
        self,
        student: nn.Module,
        *,
        momentum_start: float = 0.99,
        momentum_end: float = 0.9998,
        warmup_steps: int = 400,
        buffers: Literal["average", "copy"] = "average",
    ) -> None:
        if buffers not in ("average", "copy"):
            raise ValueError(f"buffers must be 'average' or 'copy', got {buffers!r}")
        self.module = copy.deepcopy(student)
        self.module.eval()
        self.module.requires_grad_(False)
        self.momentum_start = momentum_start
        self.momentum_end = momentum_end
        self.warmup_steps = warmup_steps
        self.buffer_mode = buffers
        self.num_updates = 0
        self._param_names = [n for n, _ in self.module.named_parameters()]
        self._buffer_names = [n for n, _ in self.module.named_buffers()]
        self._params: list[Tensor] = [p for _, p in self.module.named_parameters()]
        self._buffers: list[Tensor] = [b for _, b in self.module.named_buffers()]
        self._checked_students: set[int] = set()

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
        student_params: list[Tensor] = [p.detach() for p in student.parameters()]
        if student_params:
            torch._foreach_mul_(self._params, mu)
            torch._foreach_add_(self._params, student_params, alpha=1.0 - mu)
        floats_t: list[Tensor] = []
        floats_s: list[Tensor] = []
        for t, s in zip(self._buffers, student.buffers(), strict=True):
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
        self._params = [p for _, p in self.module.named_parameters()]
        self._buffers = [b for _, b in self.module.named_buffers()]
        return self

    def state_dict(self) -> dict[str, Any]:
        """Teacher weights and the number of updates, for ``accelerator.register_for_checkpointing``."""
        return {"module": self.module.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (strictly)."""
        self.module.load_state_dict(state["module"], strict=True)
        self.num_updates = int(state["num_updates"])
