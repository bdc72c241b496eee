"""Turn one decoded sample into the training or evaluation dict (docs/architecture.md §4).

This is the one place where views are chosen and transforms run: :class:`ShardDataset` and
``crossmost-train predict`` both call :class:`SampleBuilder`, so a sample is a function of ``(seed, epoch, index)``
alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from crossmost_data.loader.config import AugmentConfig
from crossmost_data.loader.image_transforms import EvalImageTransform, StrongImageTransform, WeakImageTransform
from crossmost_data.loader.masks import ImageBlockMaskGenerator
from crossmost_data.loader.point_transforms import StrongPointTransform, WeakPointTransform
from crossmost_data.loader.seeding import Stream, sample_rng
from crossmost_data.loader.view_policy import ViewPolicy, choose_view
from crossmost_data.points import recentre_in_unit_sphere

__all__ = ["EVAL_KEYS", "TRAIN_KEYS", "LoaderMode", "SampleBuilder", "resolve_label"]

LoaderMode = Literal["train", "eval"]

Sample = dict[str, Any]
"""One sample in the loader's layout (``TRAIN_KEYS`` / ``EVAL_KEYS``), and, collated by a ``DataLoader``, one batch:
tensors by key, plus the lists of ``uid`` and ``replaces``."""
TRAIN_KEYS = (
    "index",
    "uid",
    "label",
    "replaces",
    "image_weak",
    "image_strong",
    "image_mask",
    "points_weak",
    "points_strong",
)
EVAL_KEYS = ("index", "uid", "label", "replaces", "image", "points")
"""``replaces`` is ``""``, or, when this sample was read in place of an unreadable one, what that sample was and why
it could not be read (see :class:`~crossmost_data.loader.ShardDataset`)."""


class SampleBuilder:
    """Choose the view(s), subsample the cloud and run the pipelines of one sample.

    Args:
        mode: ``"train"`` (weak + strong image, mask, weak + strong points) or ``"eval"`` (normalisation only).
        view_policy: See :data:`crossmost_data.loader.view_policy.ViewPolicy` (``all`` is for evaluation only).
        num_views: Views available per sample (after ``views_subset``).
        fixed_view: The view of ``fixed`` and the ``image`` of ``all``.
        image_size: Output height and width.
        stored_points: Rows of the stored clouds.
        num_points: Points per output cloud (a subsample of the stored cloud); ``None`` keeps them all.
        point_channels: 3 (xyz) or 6 (xyz + rgb; the stored layout must be xyzrgb).
        augment: Augmentation settings (training).
        seed: Run seed; with the epoch and the index it fixes every random choice.
        train_outputs: Which of the training entries to build (``index``, ``uid``, ``label`` and ``replaces``
            always come); ``None`` builds them all. Pre-training reads only the weak image (and the weak points),
            and skipping the rest makes its loader several times cheaper.

    Raises:
        ValueError: An inconsistent setting; the message names it.
    """

    def __init__(
        self,
        *,
        mode: LoaderMode,
        view_policy: ViewPolicy,
        num_views: int,
        fixed_view: int,
        image_size: int,
        stored_points: int,
        num_points: int | None,
        point_channels: int,
        augment: AugmentConfig,
        seed: int,
        train_outputs: Collection[str] | None = None,
    ) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if view_policy not in ("random", "fixed", "all"):
            raise ValueError(f"view_policy must be 'random', 'fixed' or 'all', got {view_policy!r}")
        if view_policy == "all" and mode == "train":
            raise ValueError("view_policy='all' is for evaluation (mode='eval'); training reads one view per sample")
        if not 0 <= fixed_view < num_views:
            raise ValueError(f"fixed_view must be in [0, {num_views - 1}] (the views available), got {fixed_view}")
        if num_points is not None and not 1 <= num_points <= stored_points:
            raise ValueError(
                f"num_points must be in [1, {stored_points}] (the points stored per sample), got {num_points}; "
                "prepare the dataset with more points to train on more"
            )
        out_points = num_points or stored_points
        upsample_to = augment.points.upsample_to
        if upsample_to is not None and upsample_to < out_points:
            raise ValueError(f"augment.points.upsample_to ({upsample_to}) must be >= the cloud size ({out_points})")
        if point_channels not in (3, 6):
            raise ValueError(f"point_channels must be 3 or 6, got {point_channels}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        optional = TRAIN_KEYS[4:]
        unknown = sorted(set(train_outputs or ()) - set(optional))
        if unknown:
            raise ValueError(f"train_outputs: unknown entries {unknown}; choose from {', '.join(optional)}")
        self.train_outputs = tuple(k for k in optional if train_outputs is None or k in train_outputs)
        self.mode = mode
        self.view_policy = view_policy
        self.num_views = num_views
        self.fixed_view = fixed_view
        self.image_size = image_size
        self.stored_points = stored_points
        self.num_points = out_points
        self.point_channels = point_channels
        self.seed = seed
        self.eval_image = EvalImageTransform(image_size, augment.image)
        if mode == "train":
            self.weak_image = WeakImageTransform(image_size, augment.image)
            self.strong_image = StrongImageTransform(image_size, augment.image)
            self.mask = ImageBlockMaskGenerator(image_size, augment.mask)
            self.weak_points = WeakPointTransform(augment.points)
            self.strong_points = StrongPointTransform(augment.points, out_points)

    def _points(self, points: np.ndarray, epoch: int, index: int, repeat: int) -> np.ndarray:
        if points.shape[1] < self.point_channels:
            raise ValueError(
                f"sample {index}: stored points have {points.shape[1]} columns, {self.point_channels} asked"
            )
        if points.shape[0] != self.stored_points:
            raise ValueError(
                f"sample {index}: the cloud has {points.shape[0]} points, the manifest says {self.stored_points}"
            )
        points = points[:, : self.point_channels]
        if self.num_points < points.shape[0]:
            # Evaluation keeps one subset per sample; training draws a fresh one every epoch.
            rng = sample_rng(self.seed, epoch if self.mode == "train" else 0, index, Stream.SUBSAMPLE, repeat)
            points = points[np.sort(rng.choice(points.shape[0], self.num_points, replace=False))]
        return points

    def __call__(
        self,
        *,
        index: int,
        uid: str,
        label: int,
        points: np.ndarray,
        load_view: Callable[[int], Image.Image],
        epoch: int,
        repeat: int = 0,
    ) -> dict[str, Any]:
        """Build the sample dict.

        Args:
            index: Global index of the sample in its split (part of every random seed).
            uid: Sample key.
            label: Class index, ``-1`` when unknown.
            points: The stored cloud (not modified).
            load_view: Decodes view ``i`` (only the views needed are requested).
            epoch: Current epoch.
            repeat: Times this sample was already produced in this epoch (streaming repetition).

        Returns:
            The training dict (``TRAIN_KEYS``) or the evaluation dict (``EVAL_KEYS`` + ``views`` for ``all``).
        """
        cloud = self._points(points, epoch, index, repeat)
        view = choose_view(
            self.view_policy, self.num_views, self.fixed_view, sample_rng(self.seed, epoch, index, Stream.VIEW, repeat)
        )
        if self.mode == "eval":
            sample: dict[str, Any] = {"index": index, "uid": uid, "label": label, "replaces": ""}
            if self.view_policy == "all":
                views = torch.stack([self.eval_image(load_view(v)) for v in range(self.num_views)])
                sample["image"] = views[self.fixed_view].clone()
            else:
                sample["image"] = self.eval_image(load_view(view))
            sample["points"] = torch.from_numpy(recentre_in_unit_sphere(cloud))
            if self.view_policy == "all":
                sample["views"] = views
            return sample
        image = load_view(view)

        def rng(stream: Stream) -> np.random.Generator:
            return sample_rng(self.seed, epoch, index, stream, repeat)

        makers: dict[str, Callable[[], Any]] = {
            "image_weak": lambda: self.weak_image(image, rng(Stream.IMAGE_WEAK)),
            "image_strong": lambda: self.strong_image(image, rng(Stream.IMAGE_STRONG)),
            "image_mask": lambda: torch.from_numpy(self.mask(rng(Stream.MASK))),
            "points_weak": lambda: torch.from_numpy(self.weak_points(cloud, rng(Stream.POINTS_WEAK))),
            "points_strong": lambda: torch.from_numpy(self.strong_points(cloud, rng(Stream.POINTS_STRONG))),
        }
        always = {"index": index, "uid": uid, "label": label, "replaces": ""}
        return {**always, **{k: makers[k]() for k in self.train_outputs}}


def resolve_label(meta: dict[str, Any], class_names: list[str], *, where: str) -> int:
    """The label of a sample from its json: the manifest index of ``class_name``, else an int ``label``, else -1.

    Raises:
        ValueError: ``class_name`` is not one of the manifest's classes, or it disagrees with ``label``.
    """
    class_name = meta.get("class_name")
    stored = meta.get("label")
    if class_name is None:
        return int(stored) if isinstance(stored, int) and stored >= -1 else -1
    try:
        label = class_names.index(str(class_name))
    except ValueError:
        raise ValueError(f"{where}: class {class_name!r} is not in the manifest's class_names") from None
    if isinstance(stored, int) and stored not in (label, -1):
        raise ValueError(f"{where}: json label {stored} disagrees with class {class_name!r} (manifest index {label})")
    return label
