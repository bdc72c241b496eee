"""``crossmost-train predict``: classify meshes, point clouds or images with a trained run or zero-shot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from crossmost_train.commands import register_command
from crossmost_train.commands._common import run_with_config
from crossmost_train.config import ConfigError, TrainConfig


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="mesh, point-cloud or image files, or folders of them")
    parser.add_argument("--classes", nargs="+", default=None, help="class names (zero-shot model built from them)")
    parser.add_argument("--run", default=None, help="a finished selftrain run folder (its last student is used)")
    parser.add_argument("--out", default="predictions", help="output folder (predictions.json, predictions.csv)")
    parser.add_argument("--views", type=int, default=10, help="views made for meshes and point clouds")
    parser.add_argument("-c", "--config", action="append", default=None, metavar="PRESET", help="config preset(s)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(default_presets=["zeroshot"])


def _run(args: argparse.Namespace) -> int:
    def body(cfg: TrainConfig) -> int:
        from crossmost_train.predict import collect_inputs, predict_objects, prepare_object, write_predictions

        model: Any
        if args.run:
            from crossmost_models import CrossModalModel

            folder = Path(args.run) / "model"
            if not (folder / "config.json").is_file():
                raise ConfigError(f"--run {args.run}: no model/ folder (is it a finished selftrain run?)")
            model = CrossModalModel.from_pretrained(folder)
            classnames = model.classnames
        elif args.classes:
            from crossmost_train.wiring import build_model

            classnames = list(args.classes)
            model = build_model(cfg, classnames)
        else:
            raise ConfigError("give --classes NAME ... (zero-shot) or --run RUN_FOLDER (a trained model)")
        size = int(model.image_size[0])
        num_points = cfg.data.num_points or int(model.config.num_points)
        objects = [
            prepare_object(p, num_points=num_points, image_size=size, num_views=args.views, seed=cfg.run.seed)
            for p in collect_inputs(args.inputs)
        ]
        rows = predict_objects(model, objects, classnames, joint_rule=cfg.eval.joint_rule)
        files = write_predictions(rows, args.out)
        for row in rows:
            best = row.get("joint") or row.get("image*") or row.get("point") or row["image"]
            print(f"{row['path']}: {best['class']} ({best['probability']:.3f})")
        print(f"wrote {', '.join(map(str, files))}")
        return 0

    try:
        return run_with_config(args, body)
    except (ValueError, json.JSONDecodeError) as err:
        print(f"crossmost-train predict: error: {err}", flush=True)
        return 1


register_command(
    "predict", "predict classes of meshes, point clouds or images (files or folders)", _add_arguments, _run
)
