"""The preparation pipeline: raw dataset (through a reader) in, WebDataset shards and ``manifest.json`` out.

``prepare_dataset`` streams items through a process pool (each worker loads one item, samples points, makes its
views and encodes the sample) and writes shards in order as results arrive; only the small item index (uids,
sources, load callables) is held in memory. Shard assignment is deterministic (see :mod:`crossmost_data.prepare.plan`),
so a rerun skips finished shards, ``shard_index``/``num_shards`` split the work across machines, and the run that
finds every shard finished (or a ``merge_only`` run) writes the manifest.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from crossmost_data.format.manifest import Manifest, ShardEntry, SkippedItem
from crossmost_data.items import SourceItem
from crossmost_data.prepare.config import PrepareConfig, resolve_workers
from crossmost_data.prepare.plan import PlannedShard, ShardRecord, plan_split, read_record, select_items
from crossmost_data.prepare.shard_task import ShardContext, shard_tasks, write_shard
from crossmost_data.prepare.worker import ItemProcessingError, ItemResult, init_worker, process_item

__all__ = [
    "Executor",
    "ItemProcessingError",
    "PrepareConfig",
    "PrepareError",
    "PrepareSummary",
    "ReaderLike",
    "prepare_dataset",
]


Executor = Literal["local", "ray"]
"""Where a run's shards are prepared: this machine's process pool, or a Ray cluster."""


class PrepareError(RuntimeError):
    """The run cannot go on (conflicting earlier output, unknown split, unfinished shards for a merge)."""


class ReaderLike(Protocol):
    """The part of ``crossmost_data.datasets.DatasetReader`` the pipeline uses.

    A reader may also have ``labelled(root) -> bool``; when it returns false, items with the class name ``""`` are
    prepared as unlabelled samples (label -1) instead of being skipped.
    """

    name: str
    view_source: Any

    def class_names(self, root: Path) -> list[str]: ...
    def splits(self, root: Path) -> list[str]: ...
    def iter_items(self, root: Path, split: str) -> Iterator[SourceItem]: ...


@dataclass
class PrepareSummary:
    """What a preparation run did.

    Attributes:
        out_dir: The dataset folder.
        dataset: Reader name.
        counts: Split → class → samples, over every finished shard; the class ``""`` counts unlabelled samples.
        skipped: Skipped items of every finished shard, with reasons.
        shards_written: Shards written by this run.
        shards_resumed: Shards of this run's share that were already finished and left alone.
        shards_pending: Planned shards not finished yet (other machines' share, or not processed).
        manifest_path: ``manifest.json`` if this run wrote it.
        elapsed_s: Wall time of the run.
        strict: Whether skipped items make the run fail.
        planned_items: Items in the plan (all machines).
        notes: Remarks on how the run was carried out (e.g. a worker count capped at the available cores).
    """

    out_dir: Path
    dataset: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[SkippedItem] = field(default_factory=list)
    shards_written: int = 0
    shards_resumed: int = 0
    shards_pending: list[str] = field(default_factory=list)
    manifest_path: Path | None = None
    elapsed_s: float = 0.0
    strict: bool = False
    planned_items: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def num_samples(self) -> int:
        """Samples in every finished shard."""
        return sum(sum(per_class.values()) for per_class in self.counts.values())

    @property
    def exit_code(self) -> int:
        """0 on success; 1 when every finished item was skipped, or with ``strict`` when any item was skipped."""
        if self.planned_items > 0 and not self.shards_pending and self.num_samples == 0:
            return 1
        return 1 if self.strict and self.skipped else 0

    def format(self) -> str:
        """A human-readable report: counts per split and class, skipped items with reasons, shards, time."""
        lines = [f"{self.dataset}: {self.num_samples} samples in {self.out_dir} ({self.elapsed_s:.1f} s)"]
        rows = [
            (split, name or "(unlabelled)", str(n))
            for split, per_class in self.counts.items()
            for name, n in per_class.items()
        ]
        if rows:
            widths = [max(len(r[i]) for r in [*rows, ("split", "class", "samples")]) for i in range(3)]
            lines.append(f"  {'split':<{widths[0]}}  {'class':<{widths[1]}}  {'samples':>{widths[2]}}")
            lines += [f"  {s:<{widths[0]}}  {c:<{widths[1]}}  {n:>{widths[2]}}" for s, c, n in rows]
        lines.append(
            f"shards: {self.shards_written} written, {self.shards_resumed} already finished, "
            f"{len(self.shards_pending)} not finished"
        )
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} item(s):")
            lines += [f"  [{s.split}] {s.uid} ({s.source}): {s.reason}" for s in self.skipped]
            reasons = Counter(s.reason.split(":")[0].split("(")[0].strip() for s in self.skipped)
            lines.append("  by reason: " + ", ".join(f"{r} ×{n}" for r, n in reasons.most_common()))
        lines += [f"note: {note}" for note in self.notes]
        if self.manifest_path is not None:
            lines.append(f"manifest: {self.manifest_path}")
        elif self.shards_pending:
            lines.append(
                f"manifest not written yet: {len(self.shards_pending)} shard(s) unfinished (first: "
                f"{self.shards_pending[0]}); it is written by the run that finishes the last shard, or by a rerun "
                "with --merge once all machines are done"
            )
        if self.exit_code and self.planned_items and self.num_samples == 0:
            lines.append("error: no item could be prepared; see the reasons above")
        elif self.exit_code:
            lines.append("error: items were skipped and --strict is set")
        return "\n".join(lines)


def _is_finished(out_dir: Path, shard: PlannedShard, fingerprint: str) -> ShardRecord | None:
    if not (out_dir / shard.file).is_file():
        return None
    record = read_record(out_dir / shard.record_file)
    if record is None or record.fingerprint != fingerprint:
        return None
    if record.uids != [item.uid for item in shard.items]:
        return None
    return record


def _check_conflict(out_dir: Path, shard: PlannedShard, fingerprint: str, overwrite: bool) -> None:
    record = read_record(out_dir / shard.record_file)
    if record is not None and record.fingerprint != fingerprint and (out_dir / shard.file).exists() and not overwrite:
        raise PrepareError(
            f"{out_dir / shard.file} was prepared with a different configuration (fingerprint {record.fingerprint}, "
            f"now {fingerprint}); choose another --out folder or pass --overwrite to redo it"
        )


def reader_is_labelled(reader: Any, root: Path) -> bool:
    """The reader's ``labelled(root)`` when it has one, else ``True`` (every item must have a listed class)."""
    labelled = getattr(reader, "labelled", None)
    return True if labelled is None else bool(labelled(root))


def _assemble_manifest(
    out_dir: Path,
    reader: ReaderLike,
    class_names: list[str],
    splits: list[str],
    records: list[ShardRecord],
    config: PrepareConfig,
    reader_context: dict[str, Any],
    counts: dict[str, dict[str, int]],
    labelled: bool,
) -> Manifest:
    views = [n for record in records for n in record.num_views]
    unlabelled = {split: per_class.get("", 0) for split, per_class in counts.items()}
    return Manifest(
        dataset=reader.name,
        class_names=class_names,
        splits={
            split: [
                ShardEntry(r.file, r.num_samples, r.sha256) for r in records if r.split == split and r.num_samples > 0
            ]
            for split in splits
        },
        num_views=min(views) if views else (config.num_views or 0),
        image_size=config.image_size,
        points_per_sample=config.points_per_sample,
        point_layout=config.point_layout,
        up_axis="y",
        config={"prepare": config.content_dict(), "reader": reader_context},
        skipped=[s for record in records for s in record.skipped],
        class_counts={split: {c: n for c, n in per_class.items() if c} for split, per_class in counts.items()},
        unlabelled_counts={} if labelled and not any(unlabelled.values()) else unlabelled,
    )


def prepare_dataset(
    reader: ReaderLike,
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: PrepareConfig,
    *,
    reader_options: dict[str, Any] | None = None,
    executor: Executor = "local",
    ray_address: str | None = None,
) -> PrepareSummary:
    """Prepare a dataset into shards and a manifest (resumable, splittable across machines).

    Both executors run the same shard plan and write the same bytes. ``"local"`` prepares items in a process pool
    on this machine and writes the shards here; ``"ray"`` sends each unfinished shard as one task to a Ray cluster
    (``ray_address``; ``None`` joins the cluster of ``RAY_ADDRESS`` or an already initialised one, else starts a
    local one), whose workers write it to ``out_dir``, which must be on a filesystem every node shares.

    Args:
        reader: A dataset reader (``crossmost_data.datasets.get_reader(name, ...)``).
        root: The raw dataset folder given to the reader.
        out_dir: The output folder (created).
        config: The run's settings.
        reader_options: Options the reader was built with, recorded in the manifest for provenance.
        executor: ``"local"`` or ``"ray"`` (needs the ``ray`` extra: ``pip install "crossmost-data[ray]"``).
        ray_address: The Ray cluster to use with ``executor="ray"`` (``ray.init(address=...)``).

    Returns:
        The summary; ``summary.exit_code`` is what the command line returns.

    Raises:
        PrepareError: Unknown split, output written with another configuration, or ``merge_only`` with
            unfinished shards.
        ItemProcessingError: An unexpected failure (not a bad item) while preparing an item; finished shards are
            kept and no temporary file is left. With Ray, raised once every other shard is done; it lists every
            shard that still failed after its retries.
    """
    if executor not in ("local", "ray"):
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    started = time.perf_counter()
    root, out = Path(root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    class_names = list(reader.class_names(root))
    labelled = reader_is_labelled(reader, root)
    available = list(reader.splits(root))
    splits = list(config.splits) if config.splits else available
    unknown = [s for s in splits if s not in available]
    if unknown:
        raise PrepareError(f"unknown split(s) {unknown} for {reader.name!r}; available: {available}")
    view_source = reader.view_source
    reader_context = {"name": reader.name, "view_source": view_source, "options": reader_options or {}}
    fingerprint = config.fingerprint(**reader_context)

    plan: list[PlannedShard] = []
    for split in splits:
        plan += plan_split(split, select_items(list(reader.iter_items(root, split)), config.max_items),
                           config.samples_per_shard, len(plan))  # fmt: skip
    mine = [s for s in plan if s.global_index % config.num_shards == config.shard_index]
    summary = PrepareSummary(out, reader.name, strict=config.strict, planned_items=sum(len(s.items) for s in plan))

    todo: list[PlannedShard] = []
    for shard in mine:
        (out / (shard.file + ".tmp")).unlink(missing_ok=True)  # left by an interrupted run of this share
        if _is_finished(out, shard, fingerprint) is not None:
            summary.shards_resumed += 1
        else:
            _check_conflict(out, shard, fingerprint, config.overwrite)
            todo.append(shard)

    if todo and not config.merge_only:
        context = ShardContext(
            out_dir=out.resolve(),
            fingerprint=fingerprint,
            config=config,
            labels={name: i for i, name in enumerate(class_names)},
            dataset=reader.name,
            view_source=view_source,
            unlabelled_allowed=not labelled,
        )
        if executor == "ray":
            _run_on_ray(context, todo, summary, ray_address)
        else:
            _run(context, todo, summary)

    records: list[ShardRecord] = []
    for shard in plan:
        record = _is_finished(out, shard, fingerprint)
        if record is None:
            summary.shards_pending.append(shard.file)
        else:
            records.append(record)
    if config.merge_only and summary.shards_pending:
        raise PrepareError(
            f"cannot merge: {len(summary.shards_pending)} shard(s) are not finished in {out}: "
            f"{', '.join(summary.shards_pending[:5])}{' …' if len(summary.shards_pending) > 5 else ''}"
        )
    for record in records:
        per_class = summary.counts.setdefault(record.split, {})
        for name, n in sorted(Counter(record.classes).items()):
            per_class[name] = per_class.get(name, 0) + n
        summary.skipped += record.skipped
    for split in splits:
        summary.counts.setdefault(split, {})
    summary.counts = {
        s: dict(sorted(c.items(), key=lambda kv: _label(class_names, kv[0]))) for s, c in summary.counts.items()
    }
    if not summary.shards_pending:
        manifest = _assemble_manifest(
            out, reader, class_names, splits, records, config, reader_context, summary.counts, labelled
        )
        summary.manifest_path = manifest.write(out)
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _label(class_names: list[str], name: str) -> int:
    return class_names.index(name) if name in class_names else len(class_names)


def _run(context: ShardContext, todo: list[PlannedShard], summary: PrepareSummary) -> None:
    """The local executor: items of every shard through one process pool, shards written here in plan order."""
    from tqdm import tqdm

    config = context.config
    pool = None
    total = sum(len(shard.items) for shard in todo)
    workers, capped = resolve_workers(config.workers, total)
    if capped is not None:
        summary.notes.append(capped)
        tqdm.write(f"note: {capped}", file=sys.stderr)
    config = dataclasses.replace(config, workers=workers)
    tasks = shard_tasks(context, todo)
    if workers > 1:
        # spawn: GL contexts (EGL/OSMesa) do not survive fork; each worker builds its renderer once.
        mp_context = multiprocessing.get_context("spawn")
        pool = mp_context.Pool(workers, initializer=init_worker, initargs=(config, context.view_source))
        results: Iterator[ItemResult] = pool.imap(process_item, tasks, chunksize=1)
    else:
        init_worker(config, context.view_source)
        results = map(process_item, tasks)
    try:
        with tqdm(total=total, desc=context.dataset, unit="item", disable=not config.progress) as progress:
            for shard in todo:
                write_shard(context, shard, results, progress)
                summary.shards_written += 1
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _run_on_ray(context: ShardContext, todo: list[PlannedShard], summary: PrepareSummary, address: str | None) -> None:
    """The Ray executor (imported only here: the local executor needs no ray)."""
    from crossmost_data.prepare.ray_executor import run_on_ray

    outcome = run_on_ray(context, todo, address=address)
    summary.shards_written += len(outcome.records)
    summary.notes += outcome.notes
    if outcome.failures:
        raise ItemProcessingError(outcome.describe_failures())
