"""A prepared dataset folder as a run reads it: :class:`LoaderConfig` (the settings every split shares) and
:class:`PreparedData` (the folder opened once: ``manifest.json`` read and checked once, then the datasets of its
splits built from that one manifest).

The loaders that batch these datasets are :func:`~crossmost_data.loader.build_train_loader` and
:func:`~crossmost_data.loader.build_eval_loader`; both take the same :class:`LoaderConfig`. Its ``streaming`` switch
selects how the shards are read: map-style (:class:`~crossmost_data.loader.ShardDataset`: random access into a local
folder, exact epochs) or streamed (:class:`~crossmost_data.loader.StreamingShardDataset`: each shard read front to
back from a folder or a URL, for corpora larger than one disk).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossmost_data.format import ShardCorruptError
from crossmost_data.loader.config import AugmentConfig
from crossmost_data.loader.dataset import ShardDataset
from crossmost_data.loader.remote import is_url, join_location, read_manifest
from crossmost_data.loader.sample import LoaderMode
from crossmost_data.loader.split import OnCorrupt
from crossmost_data.loader.streaming import StreamingShardDataset
from crossmost_data.loader.view_policy import ViewPolicy

__all__ = ["LoaderConfig", "PreparedData", "PreparedDataError"]


class PreparedDataError(ValueError):
    """A prepared dataset folder cannot serve a run: its manifest is missing or corrupt, a split or a shard is
    missing, or a setting asks for more than the data holds. The message names the folder and what is wrong."""


@dataclass(frozen=True)
class LoaderConfig:
    """How a run reads and batches a prepared dataset folder, for every split alike.

    Attributes:
        root: The prepared dataset folder (may be empty when the datasets come from elsewhere and only the
            loaders are built); with ``streaming``, also a URL fsspec opens (``s3://…``, ``gs://…``, ``https://…``,
            ``file://…``).
        seed: Seed of the sample order (training) and of the per-sample view choice and augmentations.
        on_corrupt: A damaged sample is skipped and listed (``"skip"``) or raises (``"raise"``).
        max_unreadable: The largest fraction of a split that may be left out at indexing.
        num_workers: Loader worker processes.
        streaming: Read the shards as streams (:class:`~crossmost_data.loader.StreamingShardDataset`) instead of by
            random access.
        shuffle_buffer: Samples in each worker's shuffle buffer when streaming for training.
    """

    root: str = ""
    seed: int = 0
    on_corrupt: OnCorrupt = "skip"
    max_unreadable: float = 0.5
    num_workers: int = 0
    streaming: bool = False
    shuffle_buffer: int = 128

    def __post_init__(self) -> None:
        if self.on_corrupt not in ("skip", "raise"):
            raise ValueError(f"LoaderConfig.on_corrupt must be 'skip' or 'raise', got {self.on_corrupt!r}")
        if not 0.0 <= self.max_unreadable <= 1.0:
            raise ValueError(f"LoaderConfig.max_unreadable must be a fraction in [0, 1], got {self.max_unreadable}")
        if self.num_workers < 0:
            raise ValueError(f"LoaderConfig.num_workers must be >= 0, got {self.num_workers}")
        if self.shuffle_buffer < 0:
            raise ValueError(f"LoaderConfig.shuffle_buffer must be >= 0, got {self.shuffle_buffer}")
        if is_url(self.root) and not self.streaming:
            raise ValueError(
                f"LoaderConfig.root={self.root!r} is a URL, which only the streaming loader reads: set streaming=True "
                "(data.streaming=true), or copy the folder to a local disk"
            )


class PreparedData:
    """A prepared dataset folder opened once: its manifest is read and its class list checked here, and every
    dataset built by :meth:`dataset` reuses that manifest (``manifest.json`` is not read again). With
    ``config.streaming`` the folder may be a URL, and the manifest is read from there.

    Args:
        config: The folder and how it is read.

    Raises:
        PreparedDataError: ``manifest.json`` is missing or invalid, or its class list was edited after the shards
            were written.
    """

    def __init__(self, config: LoaderConfig) -> None:
        self.config = config
        self.root = Path(config.root)
        where = join_location(config.root, "manifest.json")
        try:
            manifest = read_manifest(config.root)  # a local folder or, when streaming, a URL
        except ValueError as err:
            raise PreparedDataError(f"{where} is not valid: {err}") from None
        changed = manifest.class_names_problem()
        if changed:
            raise PreparedDataError(f"{where}: {changed}")
        self.manifest = manifest

    @property
    def class_names(self) -> list[str]:
        """The dataset's class names in label order."""
        return list(self.manifest.class_names)

    def check_split(self, split: str) -> None:
        """Every shard the manifest lists for ``split`` exists (when streaming, only the split is checked: a shard
        that cannot be opened is found, skipped and listed when it is read).

        Raises:
            PreparedDataError: The split is not in the manifest, or some of its shards are missing.
        """
        root = self.config.root
        if split not in self.manifest.splits:
            raise PreparedDataError(
                f"{root}: the dataset has no split {split!r} (it has {', '.join(self.manifest.splits)})"
            )
        if self.config.streaming:
            return
        missing = [s.file for s in self.manifest.shards(split) if not (self.root / s.file).is_file()]
        if missing:
            raise PreparedDataError(
                f"{root}: {len(missing)} shard(s) of split {split!r} are missing: {', '.join(missing[:5])}"
                " (re-run the preparation or copy the files)"
            )

    def dataset(
        self,
        split: str,
        *,
        mode: LoaderMode,
        view_policy: ViewPolicy | None = None,
        fixed_view: int = 0,
        num_points: int | None = None,
        image_size: int | None = None,
        views_subset: int | None = None,
        augment: AugmentConfig | None = None,
        train_outputs: Collection[str] | None = None,
        use_colors: bool = False,
    ) -> ShardDataset | StreamingShardDataset:
        """The :class:`ShardDataset` of ``split`` with the config's seed and damage settings (what it left out at
        indexing is in its ``skipped``, not logged: the caller reports it), or with ``config.streaming`` the
        :class:`StreamingShardDataset` (which indexes nothing: damage is named by the ``replaces`` field of the
        samples it serves, and its ``skipped`` stays empty). The other arguments (``mode``,
        ``view_policy``, ``fixed_view``, ``num_points``, ``image_size``, ``views_subset``, ``augment``,
        ``train_outputs``, ``use_colors``) are those of :class:`ShardDataset`.

        Args:
            split: The split.

        Raises:
            PreparedDataError: The split cannot be used (missing shards, too much damage, a setting the data
                cannot serve such as more points than it stores); one line naming the folder and the split.
        """
        self.check_split(split)
        config = self.config
        options: dict[str, Any] = {
            "mode": mode,
            "view_policy": view_policy,
            "fixed_view": fixed_view,
            "num_points": num_points,
            "image_size": image_size,
            "views_subset": views_subset,
            "seed": config.seed,
            "on_corrupt": config.on_corrupt,
            "augment": augment,
            "train_outputs": train_outputs,
            "use_colors": use_colors,
            "manifest": self.manifest,
        }
        try:
            if config.streaming:
                return StreamingShardDataset(config.root, split, shuffle_buffer=config.shuffle_buffer, **options)
            return ShardDataset(self.root, split, max_unreadable=config.max_unreadable, log_skipped=False, **options)
        except ShardCorruptError as error:
            raise PreparedDataError(str(error)) from None
        except ValueError as error:  # a setting the prepared data cannot serve, such as more points than it stores
            raise PreparedDataError(f"{config.root} split {split!r}: {error}") from None
