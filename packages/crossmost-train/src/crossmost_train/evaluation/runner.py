"""Distributed evaluation: every process scores its unpadded part, then the parts are gathered exactly once.

The branches (``image``, ``image*``, ``point``, ``joint``) are made as :mod:`crossmost_train.evaluation.branches`
describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmost_train.evaluation.branches import BRANCHES, combine_joint, pool_views
from crossmost_train.evaluation.metrics import (
    accuracy,
    class_subsets,
    confusion_matrix,
    per_class_accuracy,
    subset_accuracy,
)

if TYPE_CHECKING:
    from accelerate import Accelerator

    from crossmost_data.loader import Sample

__all__ = [
    "BRANCHES",
    "Predictions",
    "combine_joint",
    "evaluate_model",
    "gather_predictions",
    "predict_batches",
    "score_predictions",
]


@dataclass
class Predictions:
    """Per-sample outputs of one model over one evaluation set (rows ordered by dataset index after gathering).

    ``readable`` is False for a row whose sample could not be read (the loader put the next readable sample in its
    place); ``unreadable`` names those samples and why.
    """

    indices: Tensor
    labels: Tensor
    embeddings: dict[str, Tensor] = field(default_factory=dict)
    logits: dict[str, Tensor] = field(default_factory=dict)
    readable: Tensor | None = None
    unreadable: list[str] = field(default_factory=list)

    def select(self, rows: Tensor) -> Predictions:
        """The rows where the bool mask ``rows`` is True."""
        return Predictions(
            indices=self.indices[rows],
            labels=self.labels[rows],
            embeddings={k: v[rows] for k, v in self.embeddings.items()},
            logits={k: v[rows] for k, v in self.logits.items()},
            readable=None if self.readable is None else self.readable[rows],
            unreadable=list(self.unreadable),
        )


@torch.no_grad()
def predict_batches(
    model: Any,
    batches: Iterable[Sample],
    *,
    device: torch.device,
    eval_view: int = 0,
    joint_rule: str = "probability",
    autocast: Any = None,
) -> Predictions:
    """Run ``model`` (unwrapped, eval mode) over evaluation batches of this process.

    A batch has ``index``, ``label``, ``points`` and ``views`` (``B×V×3×H×W``) or only ``image``; without ``views``
    image* equals image.
    """
    was_training = model.training
    model.eval()
    parts: dict[str, list[Tensor]] = {}
    unreadable: list[str] = []

    def add(key: str, value: Tensor) -> None:
        parts.setdefault(key, []).append(value.detach().float().cpu())

    from contextlib import nullcontext

    for batch in batches:
        ctx = autocast() if autocast is not None else nullcontext()
        with ctx:
            if "views" in batch:
                views = batch["views"].to(device, non_blocking=True)
                b, v = views.shape[:2]
                per_view = model.encode_image(views.flatten(0, 1)).float().reshape(b, v, -1)
                per_view = F.normalize(per_view, dim=-1)
                if not 0 <= eval_view < v:
                    raise ValueError(f"data.eval_view={eval_view} but the samples have {v} views")
                image = per_view[:, eval_view]
                image_star = pool_views(per_view)
            else:
                image = F.normalize(model.encode_image(batch["image"].to(device, non_blocking=True)).float(), dim=-1)
                image_star = image
            point = F.normalize(model.encode_points(batch["points"].to(device, non_blocking=True)).float(), dim=-1)
            logits = {name: model.classify(emb).float() for name, emb in (("image", image), ("image*", image_star))}
            logits["point"] = model.classify(point).float()
        logits["joint"] = combine_joint(logits["image*"], logits["point"], joint_rule)
        add("index", torch.as_tensor(batch["index"]).long())
        add("label", torch.as_tensor(batch["label"]).long())
        replaces = list(batch.get("replaces", [""] * len(batch["index"])))
        add("readable", torch.tensor([not text for text in replaces]))
        unreadable += [text for text in replaces if text]
        for name, emb in (("image", image), ("image*", image_star), ("point", point)):
            add(f"emb/{name}", emb)
        for name, value in logits.items():
            add(f"logits/{name}", value)
    model.train(was_training)
    if "index" not in parts:
        return Predictions(indices=torch.zeros(0, dtype=torch.long), labels=torch.zeros(0, dtype=torch.long))
    cat = {k: torch.cat(v) for k, v in parts.items()}
    return Predictions(
        indices=cat["index"].long(),
        labels=cat["label"].long(),
        embeddings={k[4:]: v for k, v in cat.items() if k.startswith("emb/")},
        logits={k[7:]: v for k, v in cat.items() if k.startswith("logits/")},
        readable=cat["readable"].bool(),
        unreadable=unreadable,
    )


def _gather_rows(accelerator: Accelerator, tensor: Tensor, sizes: list[int]) -> Tensor:
    """Concatenate a variable-length tensor from all processes (padded for the collective, then trimmed)."""
    if accelerator.num_processes == 1:
        return tensor
    longest = max(sizes)
    pad = torch.zeros((longest - tensor.shape[0], *tensor.shape[1:]), dtype=tensor.dtype)
    padded = torch.cat([tensor, pad]).to(accelerator.device)
    gathered = accelerator.gather(padded).cpu().reshape(accelerator.num_processes, longest, *tensor.shape[1:])
    return torch.cat([gathered[r, :n] for r, n in enumerate(sizes)])


def gather_predictions(accelerator: Accelerator, local: Predictions, expected: int) -> Predictions:
    """All processes' predictions, sorted by index, each sample exactly once (checked against ``expected``)."""
    n = torch.tensor([local.indices.shape[0]], device=accelerator.device)
    sizes = [int(s) for s in (accelerator.gather(n).cpu() if accelerator.num_processes > 1 else n.cpu())]
    indices = _gather_rows(accelerator, local.indices, sizes)
    order = torch.argsort(indices)
    indices = indices[order]
    if indices.numel() != expected or (indices.numel() and not torch.equal(indices, torch.arange(expected))):
        raise RuntimeError(
            f"evaluation covered {indices.numel()} rows ({torch.unique(indices).numel()} distinct samples) "
            f"of a {expected}-sample set: each sample must be scored exactly once"
        )
    readable = local.readable if local.readable is not None else torch.ones(local.indices.shape[0], dtype=torch.bool)
    unreadable = list(local.unreadable)
    if accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        unreadable = list(gather_object(unreadable))
    return Predictions(
        indices=indices,
        labels=_gather_rows(accelerator, local.labels, sizes)[order],
        embeddings={k: _gather_rows(accelerator, v, sizes)[order] for k, v in local.embeddings.items()},
        logits={k: _gather_rows(accelerator, v, sizes)[order] for k, v in local.logits.items()},
        readable=_gather_rows(accelerator, readable.to(torch.uint8), sizes)[order].bool(),
        unreadable=sorted(set(unreadable)),
    )


def score_predictions(
    preds: Predictions,
    classnames: Sequence[str],
    *,
    subsets: str = "auto",
    subset_protocol: str = "forty-way",
) -> dict[str, Any]:
    """Accuracies of every branch, per-class accuracies, subsets and confusion matrices (plain Python values).

    Accuracies count only samples with a known label (``label >= 0``): ``counts/labelled`` says how many there are,
    and with none every accuracy is NaN. ``counts/predicted/<branch>`` holds how many samples each class was
    predicted for, which is all an evaluation split without labels can report.
    """
    num_classes = len(classnames)
    result: dict[str, Any] = {
        "num_samples": int(preds.indices.numel()),
        "counts/labelled": int((preds.labels >= 0).sum()),
    }
    groups = class_subsets(classnames, subsets)
    for branch in BRANCHES:
        logits = preds.logits[branch]
        predicted = logits.argmax(dim=1) if logits.numel() else torch.zeros(0, dtype=torch.long)
        result[f"counts/predicted/{branch}"] = torch.bincount(predicted, minlength=num_classes).tolist()
        result[branch] = accuracy(logits, preds.labels)
        result[f"per_class/{branch}"] = per_class_accuracy(logits, preds.labels, num_classes)
        result[f"confusion/{branch}"] = confusion_matrix(logits, preds.labels, num_classes).tolist()
        for name, classes in groups.items():
            result[f"{name}/{branch}"] = subset_accuracy(logits, preds.labels, classes, subset_protocol)  # type: ignore[arg-type]
    return result


def evaluate_model(
    model: Any,
    loader: Iterable[Sample],
    accelerator: Accelerator,
    classnames: Sequence[str],
    *,
    num_samples: int,
    eval_view: int = 0,
    joint_rule: str = "probability",
    subsets: str = "auto",
    subset_protocol: str = "forty-way",
    progress: str | None = None,
) -> tuple[dict[str, Any], Predictions]:
    """Predict this process's part, gather every part exactly once, and score (same result on every process).

    ``progress`` names a progress bar over this process's batches, shown on the main process (``None``: none).
    Samples the loader could not read are left out of the scores: ``counts/unreadable`` says how many, and
    ``unreadable/samples`` names them (shard, key and reason).
    """
    batches: Iterable[Sample] = loader
    if progress is not None and accelerator.is_main_process:
        from tqdm.auto import tqdm

        total = len(loader) if isinstance(loader, Sized) else None
        batches = tqdm(loader, desc=progress, total=total, unit="batch", dynamic_ncols=True, leave=False)
    local = predict_batches(
        model,
        batches,
        device=accelerator.device,
        eval_view=eval_view,
        joint_rule=joint_rule,
        autocast=accelerator.autocast,
    )
    preds = gather_predictions(accelerator, local, num_samples)
    readable = preds.readable if preds.readable is not None else torch.ones_like(preds.indices, dtype=torch.bool)
    scored = preds if bool(readable.all()) else preds.select(readable)
    scores = score_predictions(scored, classnames, subsets=subsets, subset_protocol=subset_protocol)
    scores["counts/unreadable"] = int((~readable).sum())
    scores["unreadable/samples"] = list(preds.unreadable)
    return scores, preds
