"""The one training loop: accumulation, epochs and the resumable position, log lines, evaluation and the
non-finite stop, driven by a task that only counts."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from accelerate import Accelerator
from torch import nn

from crossmost_train.checkpoint import TrainingProgress
from crossmost_train.engine import FitPlan, LogWindow, NonFiniteLossError, StepValues, fit
from crossmost_train.logging_utils import MetricsLog, read_metrics


class _Batches:
    """Three micro-batches per epoch, numbered by (epoch, position); the loader and its sampler at once."""

    batches_per_epoch = 3

    def __init__(self) -> None:
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start = epoch, start_batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self.start, self.batches_per_epoch):
            yield {"value": 10.0 * self.epoch + i}


class _CountingTask:
    def __init__(self, nan_at: float | None = None) -> None:
        self.model = nn.Linear(1, 1)
        self.seen: list[float] = []
        self.optimizer_steps = 0
        self.train_modes = 0
        self.nan_at = nan_at

    def train_mode(self) -> None:
        self.train_modes += 1

    def micro_step(self, batch: dict[str, Any], progress: TrainingProgress) -> StepValues:
        value = batch["value"]
        if value == self.nan_at:
            return StepValues(math.nan, {}, {}, nonfinite_terms=["loss"])
        self.seen.append(value)
        return StepValues(value, {}, {})

    def after_micro_step(self, values: StepValues, progress: TrainingProgress) -> None:
        pass

    def after_optimizer_step(self, progress: TrainingProgress) -> dict[str, float]:
        self.optimizer_steps += 1
        return {"lr": 0.5}

    def log_record(self, window: LogWindow, stepped: Mapping[str, float], progress: TrainingProgress) -> dict[str, Any]:
        return {"mean": window.mean["loss"], "last": window.last.loss, **stepped, "epoch": progress.epoch}

    def progress_postfix(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def nonfinite_message(self, values: StepValues, progress: TrainingProgress) -> str:
        return f"not finite at step {progress.global_step}"


def _plan(total: int, **kwargs: Any) -> FitPlan:
    return FitPlan(total_steps=total, stop_at=kwargs.pop("stop_at", total), samples_per_micro_batch=1, **kwargs)


def test_accumulation_epochs_and_log_lines(tmp_path: Path) -> None:
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    task, batches, progress = _CountingTask(), _Batches(), TrainingProgress()
    evaluations: list[str] = []
    done = fit(task, accelerator=accelerator, loader=batches, sampler=batches, dataset=None, progress=progress,
               plan=_plan(4, log_every=2, eval_every_epochs=1), log=MetricsLog(tmp_path, accelerator),
               evaluate=evaluations.append)  # fmt: skip
    assert done
    # 4 optimiser steps × 2 micro-batches; windows run on across epochs: [0, 1], [2, 10], [11, 12], [20, 21].
    assert task.seen == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 20.0, 21.0]
    assert task.optimizer_steps == 4
    assert (progress.global_step, progress.epoch, progress.batches_in_epoch) == (4, 2, 2)
    assert evaluations == ["epoch 1", "epoch 2"]
    assert task.train_modes == 3  # at the start and after each evaluation
    lines = [(r["step"], r["mean"], r["last"], r["epoch"]) for r in read_metrics(tmp_path) if r["kind"] == "train"]
    assert lines == [(2, 3.25, 10.0, 1), (4, 16.0, 21.0, 2)]


def test_a_resumed_position_continues_where_it_stopped(tmp_path: Path) -> None:
    accelerator = Accelerator(cpu=True)
    task, batches = _CountingTask(), _Batches()
    progress = TrainingProgress(epoch=1, batches_in_epoch=2, global_step=5)
    assert not fit(task, accelerator=accelerator, loader=batches, sampler=batches, dataset=None, progress=progress,
                   plan=_plan(9, stop_at=7), log=MetricsLog(tmp_path, accelerator))  # fmt: skip
    assert task.seen == [12.0, 20.0]
    assert (progress.global_step, progress.epoch, progress.batches_in_epoch) == (7, 2, 1)


def test_a_non_finite_loss_stops_at_the_window_start(tmp_path: Path) -> None:
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    task, batches, progress = _CountingTask(nan_at=11.0), _Batches(), TrainingProgress()
    with pytest.raises(NonFiniteLossError, match="not finite at step 2"):
        fit(task, accelerator=accelerator, loader=batches, sampler=batches, dataset=None, progress=progress,
            plan=_plan(4), log=MetricsLog(tmp_path, accelerator))  # fmt: skip
    assert (progress.global_step, progress.epoch, progress.batches_in_epoch) == (2, 1, 0)


def test_train_loop_warns_and_hands_its_log_and_folder_to_self_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    from crossmost_train import selftrain

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(selftrain, "self_train", lambda trainer, **kwargs: calls.append(kwargs) or True)
    trainer: Any = types.SimpleNamespace(log=None, run_dir=None)
    log = MetricsLog(tmp_path)
    with pytest.warns(DeprecationWarning, match="use crossmost_train.selftrain.self_train"):
        done = selftrain.train_loop(trainer, loader=[], sampler=_Batches(), dataset=None, progress=TrainingProgress(),
                                    total_steps=3, run_dir=tmp_path, log=log, evaluate=print)  # fmt: skip
    assert done
    assert (trainer.log, trainer.run_dir) == (log, tmp_path)
    assert calls[0]["total_steps"] == 3
