"""The EMA teacher follows μ·teacher + (1−μ)·student exactly, per optimiser step, with the linear momentum ramp."""

import pytest
import torch
from torch import nn

from crossmost_train.ema import EmaTeacher, ema_momentum


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(torch.tensor(2.0))


def test_momentum_schedule_matches_formula() -> None:
    for it in (0, 1, 100, 399, 400, 1000):
        expected = 0.99 + (0.9998 - 0.99) * min(1, it / 400)
        assert ema_momentum(it, start=0.99, end=0.9998, warmup_steps=400) == pytest.approx(expected, abs=1e-15)
    assert ema_momentum(5, start=0.5, end=0.9, warmup_steps=0) == 0.9


def test_teacher_is_a_frozen_eval_copy() -> None:
    student = TinyNet()
    teacher = EmaTeacher(student)
    assert not teacher.module.training
    assert all(not p.requires_grad for p in teacher.module.parameters())
    assert all(p.requires_grad for p in student.parameters())
    student.lin.weight.data.add_(1.0)
    assert not torch.equal(teacher.module.lin.weight, student.lin.weight)


def test_update_matches_manual_ema_over_steps() -> None:
    torch.manual_seed(0)
    student = TinyNet()
    teacher = EmaTeacher(student, momentum_start=0.9, momentum_end=0.99, warmup_steps=4, buffers="average")
    manual = {k: v.clone().double() for k, v in teacher.module.state_dict().items()}
    for step in range(6):
        with torch.no_grad():
            for p in student.parameters():
                p.add_(torch.randn_like(p))
            student.bn.running_mean.add_(torch.randn(4))
            student.bn.num_batches_tracked += 3
        mu = teacher.update(student, step)
        assert mu == pytest.approx(0.9 + 0.09 * min(1, step / 4))
        for k, v in student.state_dict().items():
            if v.is_floating_point():
                manual[k] = mu * manual[k] + (1 - mu) * v.double()
            else:
                manual[k] = v.clone().double()
        for k, v in teacher.module.state_dict().items():
            torch.testing.assert_close(v.double(), manual[k], rtol=1e-6, atol=1e-7, msg=k)
    assert teacher.num_updates == 6
    assert int(teacher.module.bn.num_batches_tracked) == int(student.bn.num_batches_tracked) == 18


def test_buffers_copy_mode_copies_float_buffers() -> None:
    student = TinyNet()
    teacher = EmaTeacher(student, buffers="copy")
    student.bn.running_var.fill_(7.0)
    teacher.update(student, 0)
    assert torch.equal(teacher.module.bn.running_var, torch.full((4,), 7.0))


def test_wrapped_student_is_refused_and_state_round_trips() -> None:
    student = TinyNet()
    teacher = EmaTeacher(student)
    wrapper = nn.Sequential(student)  # names gain a "0." prefix, like an unremoved wrapper
    with pytest.raises(ValueError, match="UNWRAPPED"):
        teacher.update(wrapper)
    teacher.update(student, 0)
    state = teacher.state_dict()
    other = EmaTeacher(TinyNet())
    other.load_state_dict(state)
    assert other.num_updates == 1
    for a, b in zip(other.module.state_dict().values(), teacher.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)
