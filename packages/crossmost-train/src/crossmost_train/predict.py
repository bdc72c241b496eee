"""Predictions for loose files: meshes, point clouds and images, prepared exactly as the training data was.

Each input file is one object. A mesh or a point cloud goes through crossmost-data's item preparation
(:func:`crossmost_data.prepare.recipe.prepare_file`, the code path of ``crossmost-data render``) with the recipe of the
run's training data (up axis, point count and resampling, layout, view source, views and their settings, read from
its manifest), then through the evaluation sample builder (the subsampling, normalisation and image transform of
``evaluate``). An image gives an image only (no point prediction). ``joint`` combines image* and point as
evaluation does. A file that cannot be used is skipped and listed with the reason; the others are predicted.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmost_train.evaluation.branches import combine_joint, pool_views

MESH_SUFFIXES = {".obj", ".off", ".stl", ".glb", ".gltf", ".ply"}
POINT_SUFFIXES = {".npy", ".npz", ".xyz", ".txt", ".pts"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
SUPPORTED_SUFFIXES = MESH_SUFFIXES | POINT_SUFFIXES | IMAGE_SUFFIXES
_VIEW_NOTES = {"render": "rendered", "depth": "depth projections of the points", "given": "given"}


@dataclass(frozen=True)
class Skipped:
    """An input that was not predicted, and why."""

    path: str
    reason: str


@dataclass
class PreparedObject:
    """One input object as tensors for the model."""

    path: str
    kind: str
    views: Tensor | None = None
    points: Tensor | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelInputs:
    """What the model takes: image size, points per cloud and their channels, and the view scored as ``image``."""

    image_size: int
    num_points: int
    point_channels: int = 3
    eval_view: int = 0


def collect_inputs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Skipped]]:
    """Files given directly, plus every supported file inside given folders (sorted, recursive); a missing path
    or a file of an unsupported type is listed as skipped."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside, unread = _folder_inputs(path)
            found += inside
            skipped += unread
            if not inside:
                skipped.append(Skipped(str(path), "no mesh, point-cloud or image file in this folder"))
        elif _is_broken_link(path):
            skipped.append(_broken_link(path))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(path)
            else:
                kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
                skipped.append(Skipped(str(path), f"unsupported file type {path.suffix!r} (supported: {kinds})"))
        else:
            skipped.append(Skipped(str(path), "no such file or folder"))
    return found, skipped


def _folder_inputs(folder: Path) -> tuple[list[Path], list[Skipped]]:
    """The supported files inside ``folder`` (sorted, recursive), and what was left out: each broken symbolic link,
    and one entry per unsupported file type with its count."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    unsupported: Counter[str] = Counter()
    for path in sorted(folder.rglob("*")):
        if _is_broken_link(path):
            skipped.append(_broken_link(path))
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in SUPPORTED_SUFFIXES:
                found.append(path)
            else:
                unsupported[suffix] += 1
    for suffix, count in sorted(unsupported.items()):
        files = f"{count} file{'s' if count > 1 else ''}"
        kind = f"of unsupported type {suffix!r}" if suffix else "without a suffix"
        skipped.append(Skipped(str(folder / f"*{suffix}"), f"{files} {kind} not read"))
    return found, skipped


def _is_broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def _broken_link(path: Path) -> Skipped:
    return Skipped(str(path), f"broken symbolic link (to {os.readlink(path)})")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".ply":
        from crossmost_data.datasets.point_files import ply_face_count

        return "mesh" if ply_face_count(path) > 0 else "points"
    return "mesh" if suffix in MESH_SUFFIXES else "points"


def prepare_object(path: Path, recipe: Any, inputs: ModelInputs, *, seed: int = 0) -> PreparedObject:
    """Load one file and make the model inputs (see the module docstring).

    Raises:
        crossmost_data.items.BadItemError: the file cannot be read or used (the reason says why).
        Exception: rendering failed (no OpenGL); :func:`predict_files` then projects depth views instead.
    """
    from PIL import Image

    from crossmost_data.items import BadItemError
    from crossmost_data.loader import AugmentConfig, EvalImageTransform, SampleBuilder
    from crossmost_data.prepare.recipe import prepare_file

    kind = _kind(path)
    if kind == "image":
        try:
            image = Image.open(path).convert("RGB")
        except OSError as error:
            raise BadItemError(f"cannot read the image: {error}") from error
        return PreparedObject(str(path), kind, views=EvalImageTransform(inputs.image_size)(image)[None])
    item = prepare_file(path, recipe, seed=seed)
    stored = len(item.points)
    if item.points.shape[1] < inputs.point_channels:
        raise BadItemError(f"the model takes {inputs.point_channels} channels per point; the recipe makes xyz only")
    builder = SampleBuilder(
        mode="eval",
        view_policy="all",
        num_views=len(item.views),
        fixed_view=min(inputs.eval_view, len(item.views) - 1),
        image_size=inputs.image_size,
        stored_points=stored,
        num_points=min(inputs.num_points, stored),
        point_channels=inputs.point_channels,
        augment=AugmentConfig(),
        seed=seed,
    )
    sample = builder(
        index=0,
        uid=path.name,
        label=-1,
        points=item.points,
        load_view=lambda i: Image.fromarray(item.views[i]),
        epoch=0,
    )
    source = item.view_meta.get("view_source", recipe.view_source)
    notes = [f"views: {_VIEW_NOTES.get(source, source)}"]
    return PreparedObject(str(path), kind, views=sample["views"], points=sample["points"][None], notes=notes)


@torch.no_grad()
def predict_object(model: Any, obj: PreparedObject, classnames: Sequence[str], joint_rule: str) -> dict[str, Any]:
    """Top class and probabilities of each available branch, and the embeddings, of one prepared object."""
    device = next(model.parameters()).device
    row: dict[str, Any] = {"path": obj.path, "kind": obj.kind, "notes": obj.notes}
    logits: dict[str, Tensor] = {}
    embeddings: dict[str, Tensor] = {}
    if obj.views is not None:
        per_view = F.normalize(model.encode_image(obj.views.to(device)).float(), dim=-1)
        embeddings["image"] = per_view[0]
        embeddings["image*"] = pool_views(per_view)
    if obj.points is not None:
        embeddings["point"] = F.normalize(model.encode_points(obj.points.to(device)).float(), dim=-1)[0]
    for name, emb in embeddings.items():
        logits[name] = model.classify(emb[None]).float()[0]
    if "image*" in logits and "point" in logits:
        logits["joint"] = combine_joint(logits["image*"][None], logits["point"][None], joint_rule)[0]
    for name, value in logits.items():
        probs = value.softmax(dim=0)
        top = int(probs.argmax())
        row[name] = {
            "class": classnames[top],
            "probability": float(probs[top]),
            "probabilities": dict(zip(classnames, probs.tolist(), strict=True)),
        }
    row["embeddings"] = {k: v.cpu().tolist() for k, v in embeddings.items()}
    return row


def predict_files(
    model: Any,
    files: Sequence[Path],
    recipe: Any,
    inputs: ModelInputs,
    classnames: Sequence[str],
    *,
    joint_rule: str = "probability",
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Prepare and predict every file (with a progress bar); a file that cannot be used is skipped and listed.

    When rendering fails (no OpenGL), meshes get depth projections of their points instead, and each such row
    says so in its ``notes``.
    """
    from tqdm.auto import tqdm

    from crossmost_data.items import BadItemError

    model.eval()
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    fallback: str | None = None
    for path in tqdm(files, desc="predict", unit="file", disable=not progress):
        try:
            try:
                obj = prepare_object(path, recipe, inputs, seed=seed)
            except BadItemError:
                raise
            except Exception as error:  # the renderer: any failure of the OpenGL stack
                if recipe.view_source != "render":
                    raise
                fallback = f"depth projections (rendering unavailable: {type(error).__name__}: {error})"
                recipe = recipe.replace(view_source="depth")
                obj = prepare_object(path, recipe, inputs, seed=seed)
        except (BadItemError, ValueError, OSError) as error:
            skipped.append(Skipped(str(path), str(error) or type(error).__name__))
            continue
        if fallback is not None and obj.kind == "mesh":
            obj.notes = [f"views: {fallback}"]
        rows.append(predict_object(model, obj, classnames, joint_rule))
    return rows, skipped


def write_predictions(
    rows: Sequence[dict[str, Any]], skipped: Sequence[Skipped], out: str | os.PathLike[str]
) -> list[Path]:
    """``predictions.json`` (every predicted row, then one ``{"path", "kind": "skipped", "error"}`` row per skipped
    input) and ``predictions.csv`` (top class and probability per branch; ``error`` for a skipped input)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "predictions.json", folder / "predictions.csv"
    failed = [{"path": s.path, "kind": "skipped", "error": s.reason} for s in skipped]
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([*rows, *failed], indent=1))
    os.replace(tmp, json_path)
    branches = ("image", "image*", "point", "joint")
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "kind"] + [f"{b}_{k}" for b in branches for k in ("class", "probability")] + ["error"])
        for row in rows:
            cells = [row["path"], row["kind"]]
            for b in branches:
                cells += [row[b]["class"], f"{row[b]['probability']:.4f}"] if b in row else ["", ""]
            writer.writerow([*cells, ""])
        for s in skipped:
            writer.writerow([s.path, "skipped", *[""] * (2 * len(branches)), s.reason])
    os.replace(tmp, csv_path)
    return [json_path, csv_path]
