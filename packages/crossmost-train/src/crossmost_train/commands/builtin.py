"""The built-in commands of ``crossmost-train``: their arguments, and the checks that run before their bodies.

This module is all that ``crossmost-train --help`` and a usage error load: the bodies (``selftrain``,
``pretrain``, ``evaluate``, ``predict``) are imported only when their command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossmost_train.commands import add_config_arguments, register_command
from crossmost_train.commands._common import fail, run_with_config
from crossmost_train.config import ConfigError, TrainConfig
from crossmost_train.preflight import check_config, check_run_folder


# ------------------------------------------------------------------------------------------------------ selftrain
def _selftrain_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, default_presets=("crossmost",))


def _selftrain_check(args: argparse.Namespace, cfg: TrainConfig) -> None:
    check_config(cfg, data=True, weights_required=True)


def _selftrain(args: argparse.Namespace) -> int:
    return run_with_config(args, "crossmost_train.commands.selftrain:run_command", _selftrain_check)


# ------------------------------------------------------------------------------------------------------- pretrain
def _pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task",
        choices=["ulip", "clip"],
        default=None,
        help="ulip: align the point tower to frozen image/text towers; clip: contrastive image-text training of "
        "open_clip towers on rendered views and template captions (default: pretrain.task)",
    )
    add_config_arguments(parser, default_presets=("crossmost",))


def _pretrain_check(args: argparse.Namespace, cfg: TrainConfig) -> None:
    check_config(cfg, data=True)


def _pretrain(args: argparse.Namespace) -> int:
    return run_with_config(args, "crossmost_train.commands.pretrain:run_command", _pretrain_check)


# ------------------------------------------------------------------------------------------------------- evaluate
def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, default_presets=("zeroshot",))
    parser.add_argument(
        "--run", default=None, help="a finished selftrain run folder: evaluate its last student and teacher"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _evaluate_check(args: argparse.Namespace, cfg: TrainConfig) -> None:
    check_config(cfg, data=True, weights_required=args.run is None)


def _evaluate(args: argparse.Namespace) -> int:
    if args.run:
        try:
            folder = check_run_folder(args.run)
        except ConfigError as err:
            return fail(args, err, 2)
        saved = folder / "config.yaml"
        if not args.config and saved.is_file():  # the run's own config: class names, data and model match
            args.config = [str(saved)]
    return run_with_config(args, "crossmost_train.commands.evaluate:run_command", _evaluate_check)


# -------------------------------------------------------------------------------------------------------- predict
def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="mesh, point-cloud or image files, or folders of them")
    model = parser.add_argument_group("model")
    model.add_argument("--run", default=None, help="a finished selftrain run folder (its last student is used)")
    model.add_argument(
        "--classes",
        nargs="+",
        default=None,
        metavar="NAME",
        help="class names: without --run, a zero-shot model is built for them; with --run, the run's classifier is "
        "rebuilt for them from the text tower the model was made with (open-vocabulary prediction)",
    )
    model.add_argument(
        "--text-weights",
        default=None,
        metavar="SOURCE",
        help="the open_clip weights (tag or file) of the text tower for --classes with --run, when the model does "
        "not record them",
    )
    prep = parser.add_argument_group(
        "input preparation (default: as the run's training data was prepared, from its manifest)"
    )
    prep.add_argument("--up-axis", choices=["x", "y", "z"], default=None, help="the axis that points up in the files")
    prep.add_argument("--points", type=int, default=None, help="points sampled per object")
    prep.add_argument("--views", type=int, default=None, help="views made per mesh or point cloud")
    prep.add_argument(
        "--view-source", choices=["render", "depth"], default=None, help="render meshes or project depth views"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="predictions", help="output folder (predictions.json, predictions.csv)")
    out.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-c", "--config", action="append", default=None, metavar="PRESET", help="config preset(s)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(default_presets=["zeroshot"])


def _predict_check(args: argparse.Namespace, cfg: TrainConfig) -> None:
    if not args.run and not args.classes:
        raise ConfigError("give --classes NAME ... (zero-shot) or --run RUN_FOLDER (a trained model)")
    if args.run:
        check_run_folder(args.run)
    if not any(Path(path).exists() for path in args.inputs):
        raise ConfigError("nothing to predict: " + "; ".join(f"{path}: no such file or folder" for path in args.inputs))
    for flag, value in (("--points", args.points), ("--views", args.views)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    check_config(cfg, data=False, weights_required=not args.run)


def _predict(args: argparse.Namespace) -> int:
    return run_with_config(args, "crossmost_train.commands.predict:run_command", _predict_check)


register_command(
    "selftrain", "self-train image and point branches with joint pseudo-labels", _selftrain_arguments, _selftrain
)
register_command(
    "pretrain", "ULIP point-tower alignment or CLIP image-text pre-training", _pretrain_arguments, _pretrain
)
register_command(
    "evaluate", "accuracy of image, image*, point and joint predictions on a split", _evaluate_arguments, _evaluate
)
register_command(
    "predict", "predict classes of meshes, point clouds or images (files or folders)", _predict_arguments, _predict
)
