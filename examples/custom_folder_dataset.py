"""Bring your own data: a folder of meshes, one sub-folder per class, turned into a self-trained classifier.

The three steps a user runs on their own data, each through the command line's ``main(argv)`` so the example
shows the exact commands:

1. Write a few meshes per class with trimesh into ``<work>/raw/<class>/<object>.obj``: the layout of the
   ``folder`` reader. trimesh builds cylinders and cones along z, so the files are z-up and the reader is told so
   (``--option up_axis=z``); crossmost converts everything to y-up.
2. ``crossmost-data render folder --root <work>/raw --out <work>/prepared ...``: sample points on every mesh,
   render views (or project the points into depth views with ``--depth-views``, which needs no OpenGL) and write
   WebDataset shards plus ``manifest.json``; then ``crossmost-data verify``.
3. ``crossmost-train selftrain -c tiny data.root=<work>/prepared ...`` for a handful of steps, then
   ``crossmost-train evaluate --run <run>`` and ``crossmost-train predict`` on a new mesh.

The ``tiny`` preset builds the ``tiny`` model with random CLIP towers (nothing is downloaded), so the accuracies are
those of an untrained model and only show that the pipeline runs end to end. For a real classifier use a model with
weights, e.g. ``-c crossmost model.pretrained=openai model.point_pretrained=checkpoints/ulip-june11.safetensors``
(ViT-B/16 and Point-BERT, on a GPU; docs/reproduction.md says where the point checkpoint comes from) and prepare the
data at that model's size (``--image-size 224 --points 8192``).

Run: ``uv run python examples/custom_folder_dataset.py --work-dir /tmp/my-shapes``
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from crossmost_data.cli import main as crossmost_data
from crossmost_train.cli import main as crossmost_train

MeshMaker = Callable[[np.random.Generator], trimesh.Trimesh]

# One maker per class; sizes vary per object so the classes are not a single template each.
SHAPES: dict[str, MeshMaker] = {
    "box": lambda rng: trimesh.creation.box(extents=rng.uniform(0.5, 1.5, size=3)),
    "ball": lambda rng: trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(0.5, 1.0)),
    "cylinder": lambda rng: trimesh.creation.cylinder(radius=rng.uniform(0.2, 0.5), height=rng.uniform(1.0, 2.0)),
    "cone": lambda rng: trimesh.creation.cone(radius=rng.uniform(0.3, 0.6), height=rng.uniform(1.0, 2.0)),
}


def write_folder_dataset(raw: Path, objects_per_class: int, seed: int) -> list[Path]:
    """``raw/<class>/<class>_NN.obj`` for every class of :data:`SHAPES`; returns the files written."""
    rng = np.random.default_rng(seed)
    files = []
    for class_name, make in SHAPES.items():
        (raw / class_name).mkdir(parents=True, exist_ok=True)
        for index in range(objects_per_class):
            path = raw / class_name / f"{class_name}_{index:02d}.obj"
            make(rng).export(path)
            files.append(path)
    return files


def run_command(name: str, entry: Callable[[list[str] | None], int], argv: list[str]) -> None:
    """Print the command a user would type, run it in-process and stop on a non-zero exit code."""
    print(f"\n$ {name} {' '.join(argv)}")
    code = entry(argv)
    if code != 0:
        raise SystemExit(f"{name} {argv[0]} failed with exit code {code}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Write the meshes, prepare them, self-train, evaluate and predict.

    Returns:
        ``prepared`` and ``run`` (the folders), ``manifest`` (the parsed ``manifest.json``), ``results`` (the
        run's ``results.json``: accuracies of the zero-shot model, the student and the teacher) and
        ``predictions`` (the parsed ``predictions.json`` of the new mesh).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=None, help="where to write everything (default: a temp dir)")
    parser.add_argument("--objects-per-class", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="optimiser steps of self-training")
    parser.add_argument("--views", type=int, default=3, help="views per object")
    parser.add_argument("--depth-views", action="store_true", help="depth projections instead of OpenGL renders")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="crossmost-folder-"))
    raw, prepared, run = work / "raw", work / "prepared", work / "run"

    files = write_folder_dataset(raw, args.objects_per_class, args.seed)
    print(f"wrote {len(files)} meshes in {len(SHAPES)} class folders under {raw}")

    # The tiny model reads 64-pixel views and 512 points: prepare the data at that size.
    render = ["render", "folder", "--root", str(raw), "--out", str(prepared)]
    render += ["--option", "up_axis=z", "--option", "test_fraction=0.3"]
    if args.depth_views:
        render += ["--option", "view_source=depth"]
    render += ["--views", str(args.views), "--image-size", "64", "--points", "512"]
    render += ["--samples-per-shard", "16", "--seed", str(args.seed), "--no-progress"]
    # Two worker processes render the views. Besides being faster, this keeps OpenGL out of this process: Mesa's
    # software renderer (llvmpipe) and the LLVM inside triton, which torch loads lazily when training starts,
    # crash when they meet in one process. Separate shell commands never meet.
    render += ["--workers", "2"]
    run_command("crossmost-data", crossmost_data, render)
    run_command("crossmost-data", crossmost_data, ["verify", str(prepared)])

    train = ["selftrain", "-c", "tiny", f"data.root={prepared}", f"run.output_dir={run}"]
    train += [f"schedule.max_steps={args.steps}", f"run.seed={args.seed}"]
    run_command("crossmost-train", crossmost_train, train)
    run_command("crossmost-train", crossmost_train, ["evaluate", "--run", str(run)])

    new_mesh = work / "new_object.obj"
    SHAPES["cone"](np.random.default_rng(args.seed + 1)).export(new_mesh)
    predict = ["predict", str(new_mesh), "--run", str(run), "--out", str(work / "predictions")]
    predict += ["--views", str(args.views)]
    run_command("crossmost-train", crossmost_train, predict)

    results = json.loads((run / "results.json").read_text())
    print(f"\nrun folder: {run} (report.md, metrics.jsonl, plots, model/, teacher/, checkpoints/)")
    return {
        "prepared": prepared,
        "run": run,
        "manifest": json.loads((prepared / "manifest.json").read_text()),
        "results": results,
        "predictions": json.loads((work / "predictions" / "predictions.json").read_text()),
    }


if __name__ == "__main__":
    main()
