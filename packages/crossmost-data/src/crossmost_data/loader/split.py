"""One split of a prepared dataset as a loader sees it: its manifest, its sample builder and the shared epoch."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Literal

import torch

from crossmost_data.format.manifest import MANIFEST_NAME, Manifest, ManifestError
from crossmost_data.loader.config import AugmentConfig
from crossmost_data.loader.sample import LoaderMode, SampleBuilder
from crossmost_data.loader.view_policy import ViewPolicy, available_views, default_view_policy

__all__ = ["OnCorrupt", "ShardSplit"]

OnCorrupt = Literal["skip", "raise"]


class ShardSplit:
    """The split of a prepared dataset folder as both loaders see it, whatever the way they read the shards.

    It reads ``manifest.json``, checks the settings the two loaders have in common, builds the one
    :class:`SampleBuilder` that turns a stored sample into the training or evaluation dict, and keeps the epoch in
    shared memory so that :meth:`set_epoch` reaches persistent loader workers.

    Args:
        root: The prepared dataset folder.
        split: Split name, e.g. ``"train"``.
        mode, view_policy, fixed_view, num_points, image_size, views_subset, seed, on_corrupt, augment, use_colors,
        train_outputs, manifest: As for :class:`~crossmost_data.loader.ShardDataset`.

    Raises:
        ManifestError: The manifest is missing or invalid, or its class list was edited after preparation.
        ValueError: An inconsistent setting (message names it).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        mode: LoaderMode,
        view_policy: ViewPolicy | None,
        fixed_view: int,
        num_points: int | None,
        image_size: int | None,
        views_subset: int | None,
        seed: int,
        on_corrupt: OnCorrupt,
        augment: AugmentConfig | None,
        use_colors: bool,
        train_outputs: Collection[str] | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        super().__init__()
        if on_corrupt not in ("skip", "raise"):
            raise ValueError(f"on_corrupt must be 'skip' or 'raise', got {on_corrupt!r}")
        self.root = Path(root)
        self.split = split
        self.manifest = manifest if manifest is not None else Manifest.read(self.root)
        changed = self.manifest.class_names_problem()
        if changed:
            raise ManifestError(f"{self.root / MANIFEST_NAME}: {changed}")
        self._check_manifest()
        if use_colors and self.manifest.point_layout != "xyzrgb":
            raise ValueError(
                f"use_colors=True needs an xyzrgb dataset; {self.root} stores {self.manifest.point_layout}"
            )
        self.mode: LoaderMode = mode
        self.view_policy: ViewPolicy = view_policy or default_view_policy(mode)
        self.num_views = available_views(self.manifest.num_views, views_subset)
        self.image_size = image_size or self.manifest.image_size
        self.seed = seed
        self.on_corrupt: OnCorrupt = on_corrupt
        self.augment = augment or AugmentConfig()
        self.builder = SampleBuilder(
            mode=mode,
            view_policy=self.view_policy,
            num_views=self.num_views,
            fixed_view=fixed_view,
            image_size=self.image_size,
            stored_points=self.manifest.points_per_sample,
            num_points=num_points,
            point_channels=6 if use_colors else 3,
            augment=self.augment,
            seed=seed,
            train_outputs=train_outputs,
        )
        self.num_points = self.builder.num_points
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def _check_manifest(self) -> None:
        """Checks of a subclass on the manifest, run before the sample settings are checked (none by default)."""

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the random view and the augmentations (shared with running workers)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch.fill_(epoch)

    @property
    def epoch(self) -> int:
        """The current epoch."""
        return int(self._epoch.item())

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (from the manifest)."""
        return list(self.manifest.class_names)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.manifest.class_names)
