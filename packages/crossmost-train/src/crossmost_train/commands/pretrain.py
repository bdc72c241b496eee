"""``crossmost-train pretrain --task {ulip,clip}``: pre-training before self-training (the arguments are declared in
:mod:`crossmost_train.commands.builtin`)."""

from __future__ import annotations

import argparse
import dataclasses

from crossmost_train.config import TrainConfig


def run_command(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """``crossmost-train pretrain`` on a resolved and checked config (``--task`` wins over ``pretrain.task``)."""
    from crossmost_train.pretrain import pretrain_clip, pretrain_ulip

    task = args.task or cfg.pretrain.task
    cfg = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, task=task))
    (pretrain_clip if task == "clip" else pretrain_ulip)(cfg)
    return 0
