"""``crossmost-train predict``: classify meshes, point clouds or images with a trained run or zero-shot (the
arguments are declared in :mod:`crossmost_train.commands.builtin`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crossmost_train.config import ConfigError, TrainConfig, read_config
from crossmost_train.predict import ModelInputs, collect_inputs, predict_files, write_predictions
from crossmost_train.run_builder import DataError, build_model


def load_model(args: argparse.Namespace, cfg: TrainConfig) -> tuple[Any, list[str], list[str]]:
    """The model to predict with, its class names, and notes for the console.

    ``--run``: the run's last student; with ``--classes`` other than its own, the classifier is rebuilt for them
    from the text tower the model records (or ``--text-weights``). Otherwise a zero-shot model for ``--classes``.
    """
    if not args.run:
        return build_model(cfg, list(args.classes)), list(args.classes), []
    from crossmost_models import create_text_encoder, from_pretrained

    try:
        model = from_pretrained(Path(args.run) / "model")
    except (ValueError, FileNotFoundError) as error:
        raise DataError(f"--run {args.run}: {error}") from None
    if not args.classes or list(args.classes) == model.classnames:
        return model, model.classnames, []
    trained_for = list(model.classnames)
    try:
        model.set_classnames(list(args.classes), text_encoder=create_text_encoder(model, args.text_weights))
    except ValueError as error:
        raise ConfigError(f"--classes with --run {args.run}: {error} (--text-weights TAG_OR_FILE gives them)") from None
    note = (
        f"classifier rebuilt from the text tower for {len(args.classes)} classes (the run's self-trained classifier "
        f"is for {', '.join(trained_for[:5])}{', …' if len(trained_for) > 5 else ''})"
    )
    return model, list(args.classes), [note]


def training_config(args: argparse.Namespace, cfg: TrainConfig) -> TrainConfig:
    """The config the model was trained with: the run's ``config.yaml`` with ``--run``, else the resolved one."""
    saved = Path(args.run) / "config.yaml" if args.run else None
    return read_config(saved) if saved is not None and saved.is_file() else cfg


def input_recipe(args: argparse.Namespace, cfg: TrainConfig, model: Any) -> tuple[Any, str | None]:
    """How inputs are prepared: as the training data of the run (or of ``data.root``) was, from its manifest, with
    the command's overrides; defaults (y up, the model's point count, 10 rendered views) when there is none. Also
    returns a note when the training data is named but not here."""
    from crossmost_data.format.manifest import Manifest
    from crossmost_data.prepare.recipe import default_recipe, recipe_from_manifest

    root = training_config(args, cfg).data.root
    recipe, note = None, None
    if root and (Path(root) / "manifest.json").is_file():
        try:
            recipe = recipe_from_manifest(Manifest.read(root), Path(root) / "manifest.json")
        except ValueError as error:
            note = f"{root}/manifest.json cannot be read ({error}): inputs prepared with defaults"
    elif root:
        note = f"the training data {root} is not here: inputs prepared with defaults"
    if recipe is None:
        points = cfg.data.num_points or int(model.config.num_points)
        recipe = default_recipe(points=points, image_size=int(model.image_size[0]))
    recipe = recipe.replace(up_axis=args.up_axis, points=args.points, views=args.views, view_source=args.view_source)
    return recipe, note


def run_command(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """``crossmost-train predict`` on a resolved and checked config."""
    files, skipped = collect_inputs(args.inputs)
    if not files:
        listed = "; ".join(f"{s.path}: {s.reason}" for s in skipped)
        raise ConfigError(f"nothing to predict: {listed}")
    model, classnames, notes = load_model(args, cfg)
    run_cfg = (
        read_config(Path(args.run) / "config.yaml") if args.run and (Path(args.run) / "config.yaml").is_file() else cfg
    )
    recipe, note = input_recipe(args, cfg, model)
    for line in [*notes, *([note] if note else [])]:
        print(f"[crossmost] {line}")
    print(f"[crossmost] inputs prepared as {recipe.origin}: {recipe.describe()}")
    inputs = ModelInputs(
        image_size=int(model.image_size[0]),
        num_points=run_cfg.data.num_points or int(model.config.num_points),
        # rgb only where the recipe makes it: the model fills missing colour as its point tower expects.
        point_channels=min(int(model.config.point.in_channels), 6 if recipe.prepare.point_layout == "xyzrgb" else 3),
        eval_view=run_cfg.data.eval_view,
    )
    rows, bad = predict_files(
        model,
        files,
        recipe,
        inputs,
        classnames,
        joint_rule=cfg.eval.joint_rule,
        seed=cfg.run.seed,
        progress=not args.no_progress,
    )
    skipped += bad
    written = write_predictions(rows, skipped, args.out)
    for row in rows:
        best = row.get("joint") or row.get("image*") or row.get("point") or row["image"]
        print(f"{row['path']}: {best['class']} ({best['probability']:.3f})")
    if skipped:
        print(f"skipped {len(skipped)} of {len(rows) + len(skipped)} inputs:")
        for item in skipped:
            print(f"  {item.path}: {item.reason}")
    print(f"wrote {', '.join(map(str, written))}")
    return 0 if rows else 1
