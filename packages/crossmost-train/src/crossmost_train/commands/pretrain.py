"""``crossmost-train pretrain --task {ulip,clip}``: pre-training before self-training."""

from __future__ import annotations

import argparse

from crossmost_train.commands import add_config_arguments, register_command
from crossmost_train.commands._common import run_with_config
from crossmost_train.config import TrainConfig


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task",
        choices=["ulip", "clip"],
        default=None,
        help="ulip: align the point tower to frozen image/text towers; clip: contrastive image-text training of "
        "open_clip towers on rendered views and template captions (default: pretrain.task)",
    )
    add_config_arguments(parser, default_presets=("crossmost",))


def _run(args: argparse.Namespace) -> int:
    def body(cfg: TrainConfig) -> int:
        from crossmost_train.pretrain import pretrain_clip, pretrain_ulip

        task = args.task or cfg.pretrain.task
        cfg.pretrain.task = task
        (pretrain_clip if task == "clip" else pretrain_ulip)(cfg)
        return 0

    return run_with_config(args, body)


register_command("pretrain", "ULIP point-tower alignment or CLIP image-text pre-training", _add_arguments, _run)
