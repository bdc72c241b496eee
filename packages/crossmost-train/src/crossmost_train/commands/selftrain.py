"""``crossmost-train selftrain``: Cross-MoST self-training of a model on an unlabelled prepared dataset."""

from __future__ import annotations

import argparse

from crossmost_train.config import TrainConfig
from crossmost_train.run_builder import Components
from crossmost_train.selftrain_run import (
    Scores,
    build_selftraining,
    finish_run_folder,
    fit_selftraining,
    needs_unused_parameter_search,
    report_selftraining,
    scalar_scores,
)

__all__ = [
    "build_selftraining",
    "finish_run_folder",
    "fit_selftraining",
    "needs_unused_parameter_search",
    "report_selftraining",
    "run_command",
    "run_selftrain",
    "scalar_scores",
]


def run_selftrain(cfg: TrainConfig, components: Components | None = None) -> Scores:
    """Self-train as configured: build, fit, report. Returns the final scores (empty when stopped early by
    ``run.stop_after_steps``).

    ``components`` replaces the default builders (model, datasets, class names) for use from Python.

    The run folder gets ``config.yaml``, ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/``, ``model/`` (the
    last student, ``save_pretrained``), ``teacher/``, ``results.json``, ``report.md`` and PNG plots.
    """
    run = build_selftraining(cfg, components)
    if not fit_selftraining(run):
        run.accelerator.print(f"[crossmost] stopped after step {run.progress.global_step} (run.stop_after_steps)")
        run.accelerator.end_training()
        return {}
    return report_selftraining(run)


def run_command(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """``crossmost-train selftrain`` on a resolved and checked config."""
    run_selftrain(cfg)
    return 0
