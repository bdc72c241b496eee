"""Accuracy metrics from gathered predictions: overall, per class, class subsets, confusion matrix.

The ModelNet40 medium/hard subsets (spec §4.6, following ULIP's definition): *medium* drops the ModelNet40 classes
whose names occur in ShapeNet-55; *hard* also drops semantically near-duplicate classes. The authors never shipped
the protocol, so two are offered: ``forty-way`` (default) scores the all-class predictions on the subset's test
objects; ``restricted`` takes the argmax over the subset's classes only (a 22- or 17-way classifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

MODELNET40_MEDIUM = (
    "cone", "cup", "curtain", "door", "dresser", "glass_box", "mantel", "monitor", "night_stand", "person", "plant",
    "radio", "range_hood", "sink", "stairs", "stool", "tent", "toilet", "tv_stand", "vase", "wardrobe", "xbox",
)  # fmt: skip
MODELNET40_HARD = tuple(c for c in MODELNET40_MEDIUM if c not in {"cup", "monitor", "stool", "vase", "wardrobe"})

MODELNET40_CLASSES = (
    "airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone", "cup", "curtain",
    "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard", "lamp", "laptop", "mantel", "monitor",
    "night_stand", "person", "piano", "plant", "radio", "range_hood", "sink", "sofa", "stairs", "stool", "table",
    "tent", "toilet", "tv_stand", "vase", "wardrobe", "xbox",
)  # fmt: skip


def _norm(name: str) -> str:
    return name.replace("_", " ").strip().lower()


def is_modelnet40(classnames: Sequence[str]) -> bool:
    """True when the classes are ModelNet40's 40 (underscores or spaces, any order)."""
    return sorted(map(_norm, classnames)) == sorted(map(_norm, MODELNET40_CLASSES))


def class_subsets(classnames: Sequence[str], which: str) -> dict[str, list[int]]:
    """Subset name → class indices: ``medium``/``hard`` for ModelNet40 when ``which`` is ``auto``/``modelnet40``."""
    if which == "none" or (which == "auto" and not is_modelnet40(classnames)):
        return {}
    index = {_norm(c): i for i, c in enumerate(classnames)}
    missing = [c for c in MODELNET40_MEDIUM if _norm(c) not in index]
    if missing:
        raise ValueError(f"eval.subsets={which!r} needs the ModelNet40 classes; missing {', '.join(missing)}")
    return {
        "medium": [index[_norm(c)] for c in MODELNET40_MEDIUM],
        "hard": [index[_norm(c)] for c in MODELNET40_HARD],
    }


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy in percent over the samples with a known label (``label >= 0``); NaN if none."""
    known = labels >= 0
    if not bool(known.any()):
        return float("nan")
    return float((logits[known].argmax(dim=1) == labels[known]).float().mean() * 100.0)


def per_class_accuracy(logits: Tensor, labels: Tensor, num_classes: int) -> list[float]:
    """Accuracy (percent) of each class over its objects; NaN for a class without objects."""
    preds = logits.argmax(dim=1)
    result = []
    for c in range(num_classes):
        sel = labels == c
        result.append(float((preds[sel] == c).float().mean() * 100.0) if bool(sel.any()) else float("nan"))
    return result


def confusion_matrix(logits: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``C×C`` int64 counts, rows = true class, columns = predicted class (unknown labels skipped)."""
    known = labels >= 0
    preds = logits[known].argmax(dim=1)
    flat = labels[known] * num_classes + preds
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def subset_accuracy(
    logits: Tensor, labels: Tensor, classes: Sequence[int], protocol: Literal["forty-way", "restricted"]
) -> float:
    """Accuracy on the objects of ``classes``: all-class argmax (``forty-way``) or argmax over ``classes`` only."""
    idx = torch.as_tensor(list(classes), dtype=torch.long)
    sel = torch.isin(labels, idx)
    if not bool(sel.any()):
        return float("nan")
    sub_logits, sub_labels = logits[sel], labels[sel]
    if protocol == "forty-way":
        return accuracy(sub_logits, sub_labels)
    restricted = sub_logits[:, idx]
    mapped = (sub_labels[:, None] == idx[None, :]).float().argmax(dim=1)
    return accuracy(restricted, mapped)
