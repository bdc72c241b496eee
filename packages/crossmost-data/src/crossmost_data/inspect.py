"""``crossmost-data inspect DIR``: counts per split and class, and a contact sheet of a few samples per class.

The contact sheet (Pillow only) has one row per class (and one for unlabelled samples when the split has any): a
label cell, then for each of ``per_class`` samples its
first view and an orthographic front view (x right, y up) of its points, coloured by depth (or by rgb for
``xyzrgb`` datasets).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crossmost_data.format import DecodedSample, decode_view, iter_shard
from crossmost_data.format.manifest import Manifest

__all__ = ["LABEL_WIDTH", "contact_sheet", "format_counts", "point_image", "sheet_size"]

LABEL_WIDTH = 160
"""Width in pixels of the class-name column of the contact sheet."""


def format_counts(manifest: Manifest) -> str:
    """A table of samples per class (rows) and split (columns), unlabelled samples, totals and skipped items."""
    splits = list(manifest.splits)
    counts = manifest.class_counts
    name_width = max([len("unlabelled"), *(len(name) for name in manifest.class_names)])
    widths = [max(len(split), 7) for split in splits]
    header = f"{'label':>5}  {'class':<{name_width}}  " + "  ".join(
        f"{s:>{w}}" for s, w in zip(splits, widths, strict=True)
    )
    lines = [
        f"{manifest.dataset}: {len(manifest.class_names)} classes, {manifest.num_views} views of "
        f"{manifest.image_size}px, {manifest.points_per_sample} points ({manifest.point_layout}), up axis "
        f"{manifest.up_axis}",
        header,
    ]
    for label, name in enumerate(manifest.class_names):
        cells = "  ".join(f"{counts.get(s, {}).get(name, 0):>{w}}" for s, w in zip(splits, widths, strict=True))
        lines.append(f"{label:>5}  {name:<{name_width}}  {cells}")
    if manifest.unlabelled_counts:
        cells = "  ".join(f"{manifest.unlabelled_counts.get(s, 0):>{w}}" for s, w in zip(splits, widths, strict=True))
        lines.append(f"{-1:>5}  {'unlabelled':<{name_width}}  {cells}")
    totals = "  ".join(f"{manifest.num_samples(s):>{w}}" for s, w in zip(splits, widths, strict=True))
    lines.append(f"{'':>5}  {'total':<{name_width}}  {totals}")
    shards = "  ".join(f"{len(manifest.splits[s]):>{w}}" for s, w in zip(splits, widths, strict=True))
    lines.append(f"{'':>5}  {'shards':<{name_width}}  {shards}")
    if manifest.skipped:
        lines.append(
            f"skipped: {len(manifest.skipped)} item(s), e.g. {manifest.skipped[0].uid}: {manifest.skipped[0].reason}"
        )
    return "\n".join(lines)


def point_image(points: np.ndarray, size: int, background: int = 255) -> np.ndarray:
    """Orthographic front view (x right, y up, looking along −z) of unit-sphere points as a size×size RGB image.

    Nearer points (larger z) are drawn last and darker; ``xyzrgb`` points use their colour.
    """
    image = np.full((size, size, 3), background, dtype=np.uint8)
    if len(points) == 0:
        return image
    xyz = np.clip(points[:, :3], -1.0, 1.0)
    order = np.argsort(xyz[:, 2])
    xyz = xyz[order]
    cols = np.clip(((xyz[:, 0] + 1.0) * 0.5 * (size - 1)).round().astype(int), 0, size - 1)
    rows = np.clip(((1.0 - xyz[:, 1]) * 0.5 * (size - 1)).round().astype(int), 0, size - 1)
    if points.shape[1] >= 6:
        colors = (np.clip(points[order, 3:6], 0, 1) * 255).astype(np.uint8)
    else:
        shade = (200 - (xyz[:, 2] + 1.0) * 0.5 * 170).astype(np.uint8)
        colors = np.stack([shade, shade, np.minimum(shade.astype(int) + 40, 255).astype(np.uint8)], axis=1)
    dot = max(1, size // 64)  # points stay visible on large tiles
    for dr in range(dot):
        for dc in range(dot):
            image[np.minimum(rows + dr, size - 1), np.minimum(cols + dc, size - 1)] = colors
    return image


def sheet_size(num_classes: int, per_class: int, tile: int) -> tuple[int, int]:
    """(width, height) of a contact sheet: a label column plus two tiles per sample, one row per class."""
    return LABEL_WIDTH + per_class * 2 * tile, max(num_classes, 1) * tile


def _rows(manifest: Manifest, split: str) -> list[str]:
    """The class names shown on the sheet, plus ``""`` (unlabelled samples) when the split has any."""
    return [*manifest.class_names, *([""] if manifest.unlabelled_counts.get(split, 0) else [])]


def _collect(root: Path, manifest: Manifest, split: str, per_class: int) -> dict[str, list[DecodedSample]]:
    wanted: dict[str, list[DecodedSample]] = {name: [] for name in _rows(manifest, split)}
    missing = len(wanted) * per_class
    for entry in manifest.shards(split):
        for sample in iter_shard(root / entry.file):
            bucket = wanted.get(str(sample.meta.get("class_name") or ""))
            if bucket is not None and len(bucket) < per_class:
                bucket.append(sample)
                missing -= 1
        if missing == 0:
            break
    return wanted


def contact_sheet(
    root: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    split: str | None = None,
    per_class: int = 4,
    tile: int = 96,
) -> Path:
    """Write a contact-sheet PNG of a prepared dataset; its size is :func:`sheet_size`.

    Args:
        root: The dataset folder.
        out_path: The PNG to write (atomically).
        split: The split to show; default the first split with samples.
        per_class: Samples per class (row).
        tile: Size of each image tile in pixels.

    Returns:
        The written path.
    """
    from PIL import Image, ImageDraw

    root, out_path = Path(root), Path(out_path)
    manifest = Manifest.read(root)
    if split is None:
        split = next((s for s in manifest.splits if manifest.num_samples(s) > 0), next(iter(manifest.splits), ""))
    samples = _collect(root, manifest, split, per_class)
    rows = _rows(manifest, split)
    sheet = Image.new("RGB", sheet_size(len(rows), per_class, tile), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(rows):
        top = row * tile
        draw.text((6, top + tile // 2 - 12), f"{row}: {name}"[:24] if name else "unlabelled", fill=(0, 0, 0))
        draw.text((6, top + tile // 2 + 2), f"{len(samples[name])} shown", fill=(110, 110, 110))
        for i, sample in enumerate(samples[name]):
            left = LABEL_WIDTH + i * 2 * tile
            if sample.views:
                view = decode_view(sample.views[0]).resize((tile, tile))
                sheet.paste(view, (left, top))
            sheet.paste(Image.fromarray(point_image(sample.points, tile)), (left + tile, top))
        draw.line([(0, top + tile - 1), (sheet.width, top + tile - 1)], fill=(220, 220, 220))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        sheet.save(tmp, format="PNG")
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path
