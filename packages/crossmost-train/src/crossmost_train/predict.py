"""Predictions for loose files: meshes, point clouds and images, with the missing modality made on the fly.

Each input file is one object. A mesh gives points (area-weighted surface samples) and views (rendered with
pyrender when OpenGL works, otherwise depth projections of the sampled points); a point cloud gives points and depth
projections; an image gives an image only (no point prediction). ``joint`` combines image* and point as in
evaluation.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from crossmost_train.evaluation.runner import combine_joint

MESH_SUFFIXES = {".obj", ".off", ".stl", ".glb", ".gltf", ".ply"}
POINT_SUFFIXES = {".npy", ".npz", ".xyz", ".txt", ".pts"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass
class PreparedObject:
    """One input object as tensors for the model."""

    path: str
    kind: str
    views: Tensor | None = None
    points: Tensor | None = None
    notes: list[str] = field(default_factory=list)


def collect_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given directly, plus every supported file inside given folders (sorted, recursive)."""
    supported = MESH_SUFFIXES | POINT_SUFFIXES | IMAGE_SUFFIXES
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in supported)
        elif path.is_file():
            if path.suffix.lower() not in supported:
                raise ValueError(f"{path}: unsupported file type {path.suffix!r} (supported: {sorted(supported)})")
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if not found:
        raise FileNotFoundError("no supported input files found")
    return found


def _is_point_ply(path: Path) -> bool:
    head = path.read_bytes()[:4096].decode("latin-1")
    return "element face 0" in head or "element face" not in head


def _views_from_points(points: np.ndarray, num_views: int, image_size: int) -> list[np.ndarray]:
    from crossmost_data.depth import DepthConfig, project_depth_views

    return project_depth_views(points, DepthConfig(num_views=num_views, image_size=image_size)).images


def prepare_object(path: Path, *, num_points: int, image_size: int, num_views: int, seed: int = 0) -> PreparedObject:
    """Load one file and make the model inputs (CLIP-normalised views, unit-sphere y-up points)."""
    from PIL import Image

    from crossmost_data.loader import EvalImageTransform, normalize_unit_sphere
    from crossmost_data.sampling import resample_points

    transform = EvalImageTransform(image_size)
    rng = np.random.default_rng(seed)
    suffix = path.suffix.lower()
    obj = PreparedObject(str(path), "image")
    if suffix in IMAGE_SUFFIXES:
        obj.views = transform(Image.open(path).convert("RGB"))[None]
        return obj
    if suffix in POINT_SUFFIXES or (suffix == ".ply" and _is_point_ply(path)):
        from crossmost_data.datasets.point_files import read_point_file

        obj.kind = "points"
        cloud = read_point_file(path)[:, :3]
        cloud = resample_points(cloud, num_points, rng)
        images = _views_from_points(cloud, num_views, image_size)
        obj.notes.append("views: depth projections of the points")
    else:
        from crossmost_data.mesh import load_mesh
        from crossmost_data.sampling import sample_surface

        obj.kind = "mesh"
        mesh = load_mesh(path)
        cloud = sample_surface(mesh, num_points, rng)[:, :3]
        try:
            from crossmost_data.render import RenderConfig
            from crossmost_data.render.renderer import get_process_renderer

            images = get_process_renderer(RenderConfig(num_views=num_views, image_size=image_size)).render(mesh).images
            obj.notes.append("views: rendered")
        except Exception as err:  # no OpenGL here: fall back to projections, and say so
            images = _views_from_points(cloud, num_views, image_size)
            obj.notes.append(f"views: depth projections (rendering unavailable: {type(err).__name__})")
    points = normalize_unit_sphere(np.ascontiguousarray(cloud, dtype=np.float32))
    obj.points = torch.from_numpy(points)[None]
    obj.views = torch.stack([transform(Image.fromarray(v)) for v in images])
    return obj


@torch.no_grad()
def predict_objects(
    model: Any, objects: Sequence[PreparedObject], classnames: Sequence[str], *, joint_rule: str = "probability"
) -> list[dict[str, Any]]:
    """Per object: top class and probabilities of each available branch, and the embeddings."""
    device = next(model.parameters()).device
    model.eval()
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"path": obj.path, "kind": obj.kind, "notes": obj.notes}
        logits: dict[str, Tensor] = {}
        embeddings: dict[str, Tensor] = {}
        if obj.views is not None:
            per_view = F.normalize(model.encode_image(obj.views.to(device)).float(), dim=-1)
            embeddings["image"] = per_view[0]
            embeddings["image*"] = F.normalize(per_view.mean(dim=0), dim=-1)
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
        rows.append(row)
    return rows


def write_predictions(rows: Sequence[dict[str, Any]], out: str | os.PathLike[str]) -> list[Path]:
    """``predictions.json`` (everything) and ``predictions.csv`` (top class and probability per branch)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "predictions.json", folder / "predictions.csv"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(list(rows), indent=1))
    os.replace(tmp, json_path)
    branches = ("image", "image*", "point", "joint")
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "kind"] + [f"{b}_{k}" for b in branches for k in ("class", "probability")])
        for row in rows:
            cells = [row["path"], row["kind"]]
            for b in branches:
                cells += [row[b]["class"], f"{row[b]['probability']:.4f}"] if b in row else ["", ""]
            writer.writerow(cells)
    os.replace(tmp, csv_path)
    return [json_path, csv_path]
