"""Which item goes into which shard, and the per-shard sidecar records that make runs resumable and mergeable.

Items of a split are sorted by uid and cut into consecutive groups of ``samples_per_shard``; group ``j`` is
shard ``<split>-{j:06d}.tar``. The plan depends only on the items and the config, so every machine computes the
same plan, takes the shards ``k`` with ``k % num_shards == shard_index`` (``k`` counting over all splits), and
any run can assemble the manifest from the sidecars once every shard is finished.

A shard is finished when ``<split>-NNNNNN.tar`` exists: its sidecar ``<split>-NNNNNN.json`` (samples, skipped
items, sha256, config fingerprint) is written before the tar is renamed to its final name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crossmost_data.format import shard_name
from crossmost_data.format.manifest import SkippedItem, write_json_atomic
from crossmost_data.items import SourceItem

__all__ = ["PlannedShard", "ShardRecord", "plan_split", "read_record", "select_items"]


@dataclass(frozen=True)
class PlannedShard:
    """One shard of the plan: its split, index within the split, global index and items (sorted by uid)."""

    split: str
    index: int
    global_index: int
    items: tuple[SourceItem, ...]

    @property
    def file(self) -> str:
        """The shard's file name."""
        return shard_name(self.split, self.index)

    @property
    def record_file(self) -> str:
        """The sidecar record's file name."""
        return self.file.removesuffix(".tar") + ".json"


@dataclass
class ShardRecord:
    """The sidecar of a finished shard.

    Attributes:
        file: The shard's file name.
        split: Its split.
        fingerprint: Hash of the configuration that wrote it.
        uids: Every planned item of the shard (written or skipped), in order.
        num_samples: Samples written.
        sha256: Hash of the tar.
        classes: Class name of each written sample, in order.
        num_views: Views of each written sample, in order.
        skipped: Items of the shard that were skipped, with reasons.
    """

    file: str
    split: str
    fingerprint: str
    uids: list[str]
    num_samples: int
    sha256: str
    classes: list[str] = field(default_factory=list)
    num_views: list[int] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)

    def write(self, path: Path) -> None:
        """Write the record atomically."""
        data = asdict(self)
        data["skipped"] = [asdict(s) for s in self.skipped]
        write_json_atomic(path, data)


def read_record(path: Path) -> ShardRecord | None:
    """Read a sidecar record; ``None`` when it is missing or unreadable (the shard is then redone)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["skipped"] = [SkippedItem(**s) for s in data.get("skipped", [])]
        return ShardRecord(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def select_items(items: list[SourceItem], max_items: int | None) -> list[SourceItem]:
    """Sort by uid and keep at most ``max_items``, taken round-robin over classes (so quick runs see every class)."""
    ordered = sorted(items, key=lambda item: item.uid)
    if max_items is None or len(ordered) <= max_items:
        return ordered
    by_class: dict[str, list[SourceItem]] = defaultdict(list)
    for item in ordered:
        by_class[item.class_name].append(item)
    queues = [by_class[name] for name in sorted(by_class)]
    chosen: list[SourceItem] = []
    depth = 0
    while len(chosen) < max_items:
        for queue in queues:
            if depth < len(queue) and len(chosen) < max_items:
                chosen.append(queue[depth])
        depth += 1
    return sorted(chosen, key=lambda item: item.uid)


def plan_split(
    split: str, items: Iterable[SourceItem], samples_per_shard: int, first_global: int
) -> list[PlannedShard]:
    """Cut a split's (already selected and sorted) items into shards; raise on duplicate uids.

    Raises:
        ValueError: Two items share a uid (names both sources) or an item's split differs from ``split``.
    """
    items = list(items)
    seen: dict[str, str] = {}
    for item in items:
        if item.uid in seen:
            raise ValueError(f"duplicate uid {item.uid!r} in split {split!r}: {seen[item.uid]} and {item.source}")
        seen[item.uid] = item.source
    return [
        PlannedShard(split, j, first_global + j, tuple(items[start : start + samples_per_shard]))
        for j, start in enumerate(range(0, len(items), samples_per_shard))
    ]
