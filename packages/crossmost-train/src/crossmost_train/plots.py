"""PNG plots of a run (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BRANCHES = ("image", "image*", "point", "joint")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _series(records: Sequence[dict[str, Any]], kind: str, key: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for r in records:
        v = r.get(key)
        if r.get("kind") == kind and isinstance(v, (int, float)) and math.isfinite(v):
            steps.append(int(r["step"]))
            values.append(float(v))
    return steps, values


def _smooth(values: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend()


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_run(records: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Accuracy curves per branch, the modality share of pseudo-labels (paper Fig. 4), and the teachers'
    prediction sharpness and class biasedness (paper Fig. 3). Returns the files written."""
    plt = _pyplot()
    out = Path(out_dir)
    written = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for branch in BRANCHES:
        steps, values = _series(records, "eval", f"student/{branch}")
        if steps:
            ax.plot(steps, values, marker="o", label=branch)
    ax.set(xlabel="optimiser step", ylabel="test accuracy (%)", title="Student accuracy per branch")
    ax.grid(alpha=0.3)
    _legend(ax)
    written.append(_save(fig, out / "accuracy.png"))
    plt.close(fig)

    window = 20
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("image_label_share", "image"), ("point_label_share", "point")):
        steps, values = _series(records, "train", key)
        if steps:
            ax.plot(steps, [100 * v for v in _smooth(values, window)], label=f"from {label} teacher")
    ax.set(xlabel="optimiser step", ylabel="share of kept pseudo-labels (%)", ylim=(0, 100))
    ax.set_title("Pseudo-label source per modality")
    ax.grid(alpha=0.3)
    _legend(ax)
    written.append(_save(fig, out / "label_share.png"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, stat, ylabel in (
        (axes[0], "sharpness", "log C − entropy (nats)"),
        (axes[1], "biasedness", "KL(prediction histogram ‖ uniform)"),
    ):
        for branch in ("image", "point"):
            steps, values = _series(records, "train", f"{branch}_{stat}")
            if steps:
                ax.plot(steps, _smooth(values, window), label=branch)
        ax.set(xlabel="optimiser step", ylabel=ylabel, title=f"Teacher {stat}")
        ax.grid(alpha=0.3)
        _legend(ax)
    written.append(_save(fig, out / "entropy_biasedness.png"))
    plt.close(fig)
    return written


def plot_confusion(matrix: Any, classnames: Sequence[str], path: str | os.PathLike[str], title: str) -> Path:
    """Row-normalised confusion matrix (rows: true class) as a PNG."""
    import numpy as np

    plt = _pyplot()
    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(classnames)
    size = max(4.0, min(16.0, 0.3 * n + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), classnames, rotation=90, fontsize=max(4, 10 - n // 10))
    ax.set_yticks(range(n), classnames, fontsize=max(4, 10 - n // 10))
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    saved = _save(fig, Path(path))
    plt.close(fig)
    return saved
