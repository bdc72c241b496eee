"""One shard as one unit of work: what every executor needs to write a shard, and the function that writes it.

The local executor (:mod:`crossmost_data.prepare.pipeline`) feeds :func:`write_shard` with results from a process
pool; a cluster executor (:mod:`crossmost_data.prepare.ray_executor`) runs :func:`prepare_shard` as one task per
shard. Both write the same bytes: each item's randomness depends only on ``(seed, uid)``, the shard's items and
their order come from the plan, and the tar is written atomically (a temporary name, renamed once the sidecar
record is written).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from crossmost_data.datasets.registry import ViewSource
from crossmost_data.format import AtomicTarWriter, ShardInfo
from crossmost_data.format.manifest import SkippedItem
from crossmost_data.prepare.config import PrepareConfig
from crossmost_data.prepare.plan import PlannedShard, ShardRecord
from crossmost_data.prepare.worker import ItemResult, ItemTask, init_worker, process_item

__all__ = ["Progress", "ShardContext", "prepare_shard", "shard_tasks", "write_shard"]


class Progress(Protocol):
    """The part of a ``tqdm`` bar a shard writer uses."""

    def update(self, n: int = 1) -> Any: ...
    def write(self, s: str) -> Any: ...


class _Silent:
    """A progress sink for shards written away from the driver (the driver reports from the records)."""

    def update(self, n: int = 1) -> None:
        return None

    def write(self, s: str) -> None:
        return None


@dataclass(frozen=True)
class ShardContext:
    """What writing any shard of a run needs besides the shard itself (picklable, sent once per task).

    Attributes:
        out_dir: The output folder; for a cluster, a path every node sees (a shared filesystem).
        fingerprint: The run's configuration fingerprint, recorded in each sidecar.
        config: The run's settings.
        labels: Class name → label.
        dataset: The reader's name.
        view_source: How views are made for items without given views.
        unlabelled_allowed: Items with the class ``""`` are prepared with the label -1 (an unlabelled dataset).
    """

    out_dir: Path
    fingerprint: str
    config: PrepareConfig
    labels: dict[str, int]
    dataset: str
    view_source: ViewSource
    unlabelled_allowed: bool


def shard_tasks(context: ShardContext, shards: Iterable[PlannedShard]) -> Iterator[ItemTask]:
    """The item tasks of ``shards``, in plan order."""
    for shard in shards:
        for item in shard.items:
            yield ItemTask(
                uid=item.uid,
                class_name=item.class_name,
                label=context.labels.get(item.class_name, -1),
                split=shard.split,
                source=item.source,
                load=item.load,
                dataset=context.dataset,
                view_source=context.view_source,
                unlabelled_allowed=context.unlabelled_allowed,
            )


def write_shard(
    context: ShardContext, shard: PlannedShard, results: Iterator[ItemResult], progress: Progress
) -> ShardRecord:
    """Write ``shard`` from the next ``len(shard.items)`` results: the tar under a temporary name, then its sidecar
    record, then the rename. Stale files of an earlier attempt are removed first; on any error nothing of the
    shard is left.

    Raises:
        RuntimeError: The results do not come in the shard's order.
    """
    out_dir = context.out_dir
    for stale in (shard.file, shard.file + ".tmp", shard.record_file):
        (out_dir / stale).unlink(missing_ok=True)
    record = ShardRecord(shard.file, shard.split, context.fingerprint, [item.uid for item in shard.items], 0, "")
    writer = AtomicTarWriter(out_dir / shard.file)
    try:
        for item in shard.items:
            result = next(results)
            if result.uid != item.uid:
                raise RuntimeError(f"result order mismatch: expected {item.uid!r}, got {result.uid!r}")
            if result.files is None:
                reason = result.reason or "unknown reason"
                record.skipped.append(SkippedItem(item.uid, item.source, shard.split, reason))
                progress.write(f"skipped [{shard.split}] {item.uid} ({item.source}): {reason}")
            else:
                writer.write(item.uid, result.files)
                record.classes.append(item.class_name)
                record.num_views.append(result.num_views)
            progress.update(1)

        def publish(info: ShardInfo) -> None:
            record.num_samples, record.sha256 = info.num_samples, info.sha256
            record.write(out_dir / shard.record_file)

        writer.close(before_rename=publish)
    except BaseException:
        writer.abort()
        raise
    return record


def prepare_shard(context: ShardContext, shard: PlannedShard) -> ShardRecord:
    """Prepare every item of ``shard`` in this process and write the shard (one task of a cluster executor).

    Raises:
        ItemProcessingError: An unexpected failure (not a bad item); nothing of the shard is left.
    """
    init_worker(context.config, context.view_source)
    return write_shard(context, shard, map(process_item, shard_tasks(context, [shard])), _Silent())
