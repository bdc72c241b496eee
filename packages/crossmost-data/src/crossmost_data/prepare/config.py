"""``PrepareConfig``: every setting of a preparation run (``crossmost-data render`` / ``synth``)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["ITEMS_PER_WORKER", "RUN_ONLY_FIELDS", "PrepareConfig", "available_cores", "resolve_workers"]

ITEMS_PER_WORKER = 64
"""Items per worker process when the count is chosen automatically. Starting a worker (a spawned interpreter, the
readers, a renderer) took 3.5-7 s on a 2-core machine (``benchmarks/bench_prepare_workers.py``), as long as
preparing tens of small items: a smaller share per worker makes a run slower, not faster."""

RUN_ONLY_FIELDS = frozenset({"workers", "shard_index", "num_shards", "strict", "progress", "merge_only"})
"""Fields that change how a run executes but not what it writes; they are left out of the manifest and the
shard fingerprint, so that shards from several machines or reruns with other worker counts fit together."""


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of a preparation run.

    Attributes:
        splits: Splits to prepare; ``None`` = every split the reader offers.
        points_per_sample: Points stored per sample.
        point_layout: ``"xyz"`` or ``"xyzrgb"`` (rgb from textures/vertex colours/given colours; grey when absent).
        min_points: Items whose given point cloud has fewer points are skipped; ``None`` = ``points_per_sample``
            (the default skips objects with fewer points than requested). Between ``min_points`` and
            ``points_per_sample`` the cloud is upsampled by ``upsample``.
        downsample: ``"random"`` subset or ``"fps"`` (farthest point sampling) for larger given clouds.
        upsample: ``"repeat"`` random points or ``"jitter"`` repeats with small Gaussian noise.
        num_views: Views per sample; ``None`` = the renderer's/depth projector's default, or every given view.
            Items with fewer given views than ``num_views`` are skipped.
        image_size: Views are stored as ``image_size``×``image_size`` (given images: shorter side resized, then
            centre-cropped).
        image_format: ``"png"`` (lossless) or ``"jpg"``.
        jpeg_quality: JPEG quality for ``image_format="jpg"``.
        render_options: Extra ``crossmost_data.views.RenderConfig`` fields (``layout``, ``elevation_deg``,
            ``background``, ``light_intensity``, ``platform``, ...).
        depth_options: Extra ``crossmost_data.views.depth.DepthConfig`` fields (``grid_size``, ...).
        samples_per_shard: Items assigned to one shard (skipped items leave it a little smaller).
        max_items: Per split, keep at most this many items, taken round-robin over classes (quick runs).
        seed: Base seed; each item's randomness is seeded by ``(seed, uid)``, independent of workers.
        workers: Worker processes; ``0`` or ``1`` process items in the calling process; ``None`` picks one per
            :data:`ITEMS_PER_WORKER` items, up to the available cores (see :func:`resolve_workers`).
        shard_index: This machine's index when the shard list is split across ``num_shards`` machines.
        num_shards: Number of machines sharing the shard list (shard ``k`` goes to machine ``k % num_shards``).
        strict: A run with skipped items ends with a non-zero exit code.
        progress: Show a progress bar.
        merge_only: Process nothing; assemble ``manifest.json`` from finished shards (after split runs).
        overwrite: Redo shards written with a different configuration instead of refusing to mix them.
    """

    splits: tuple[str, ...] | None = None
    points_per_sample: int = 8192
    point_layout: Literal["xyz", "xyzrgb"] = "xyz"
    min_points: int | None = None
    downsample: Literal["random", "fps"] = "random"
    upsample: Literal["repeat", "jitter"] = "repeat"
    num_views: int | None = None
    image_size: int = 224
    image_format: Literal["png", "jpg"] = "png"
    jpeg_quality: int = 95
    render_options: dict[str, Any] = field(default_factory=dict)
    depth_options: dict[str, Any] = field(default_factory=dict)
    samples_per_shard: int = 500
    max_items: int | None = None
    seed: int = 0
    workers: int | None = None
    shard_index: int = 0
    num_shards: int = 1
    strict: bool = False
    progress: bool = True
    merge_only: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.points_per_sample >= 1, "points_per_sample must be ≥ 1"),
            (self.point_layout in ("xyz", "xyzrgb"), "point_layout must be 'xyz' or 'xyzrgb'"),
            (self.min_points is None or self.min_points >= 1, "min_points must be ≥ 1"),
            (self.downsample in ("random", "fps"), "downsample must be 'random' or 'fps'"),
            (self.upsample in ("repeat", "jitter"), "upsample must be 'repeat' or 'jitter'"),
            (self.num_views is None or self.num_views >= 1, "num_views must be ≥ 1"),
            (self.image_size >= 8, "image_size must be ≥ 8"),
            (self.image_format in ("png", "jpg"), "image_format must be 'png' or 'jpg'"),
            (self.samples_per_shard >= 1, "samples_per_shard must be ≥ 1"),
            (self.max_items is None or self.max_items >= 1, "max_items must be ≥ 1"),
            (self.workers is None or self.workers >= 0, "workers must be ≥ 0"),
            (self.num_shards >= 1, "num_shards must be ≥ 1"),
            (0 <= self.shard_index < self.num_shards, "shard_index must be in [0, num_shards)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"PrepareConfig: {message}")

    def content_dict(self) -> dict[str, Any]:
        """The settings that determine the written data (JSON-compatible; recorded in the manifest)."""
        data = {k: v for k, v in asdict(self).items() if k not in RUN_ONLY_FIELDS}
        data["splits"] = list(self.splits) if self.splits is not None else None
        return json.loads(json.dumps(data))

    def fingerprint(self, **context: Any) -> str:
        """A short hash of the settings that change a sample's bytes plus ``context`` (reader, view source).

        ``splits`` and ``max_items`` are left out: they choose items, and each shard record lists its uids.
        """
        content = {k: v for k, v in self.content_dict().items() if k not in ("splits", "max_items")}
        text = json.dumps({"config": content, **context}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(requested: int | None, items: int | None = None) -> tuple[int, str | None]:
    """The worker processes to use for ``items`` items.

    ``None`` (the default of ``crossmost-data render``) takes one worker per :data:`ITEMS_PER_WORKER` items, up to
    the available cores. A request is capped at the available cores, with a message: each worker is a spawned
    Python process that imports the readers and builds its own renderer, so more workers than cores only contend
    for the same cores and multiply that start-up. No more workers than items are started.

    Returns:
        ``(workers, message)``; the message says why a request was capped (``None`` when it was not).
    """
    cores = available_cores()
    message = None
    if requested is None:
        workers = cores if items is None else min(cores, max(1, -(-items // ITEMS_PER_WORKER)))
    elif requested > cores:
        workers = cores
        message = f"{requested} workers asked, but {cores} CPU cores are available here: {cores} workers are used"
    else:
        workers = max(requested, 0)
    return (workers if items is None else min(workers, max(items, 1))), message
