"""``crossmost-train predict``: classify meshes, point clouds or images with a trained run or zero-shot."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crossmost_train.config import ConfigError, TrainConfig


def run_command(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """``crossmost-train predict`` on a resolved and checked config."""
    if True:
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
            prepare_object(p, num_points=num_points, image_size=size, num_views=args.views or 10, seed=cfg.run.seed)
            for p in collect_inputs(args.inputs)
        ]
        rows = predict_objects(model, objects, classnames, joint_rule=cfg.eval.joint_rule)
        files = write_predictions(rows, args.out)
        for row in rows:
            best = row.get("joint") or row.get("image*") or row.get("point") or row["image"]
            print(f"{row['path']}: {best['class']} ({best['probability']:.3f})")
        print(f"wrote {', '.join(map(str, files))}")
        return 0

    return 0
