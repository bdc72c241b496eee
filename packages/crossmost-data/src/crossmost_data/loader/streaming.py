"""Streaming dataset over the shards of a prepared dataset, for corpora larger than one disk (DESIGN.md §2).

:class:`StreamingShardDataset` reads each shard once, front to back, from a local folder or any URL fsspec opens
(:mod:`crossmost_data.loader.remote`); nothing is indexed in advance and nothing is read by random access. It turns a
stored sample into the training or evaluation dict with the same :class:`~crossmost_data.loader.SampleBuilder` as the
map-style :class:`~crossmost_data.loader.ShardDataset`, seeded by the same ``(seed, epoch, index)``, where ``index``
is the sample's position in the split as ``manifest.json`` lists it (shard by shard). A sample read by both datasets
therefore comes out identical.

Training (:meth:`StreamingShardDataset.plan_training`): the shards are permuted at every epoch from ``(seed,
epoch)``; process ``r`` of ``W`` takes every ``W``-th shard of the permutation and its loader worker ``w`` of ``K``
every ``K``-th of those, so that every shard is read by exactly one worker of one process (at least ``W × K`` shards
are required, and checked). Each worker passes its samples through a shuffle buffer seeded from ``(seed, epoch,
rank, worker)``. An epoch is ``floor(N / global batch)`` optimiser steps, ``N`` the manifest's sample count, on every
process alike: each worker serves a fixed number of micro-batches; a worker whose shards hold more samples than its
share stops early (the rest of its shards waits for another epoch, which deals the shards anew), and one whose
shards hold fewer reads them again (``repeat`` 1, 2, … enters the seed of every augmentation, so a repeated sample
gets other views and augmentations).

Evaluation (:meth:`StreamingShardDataset.plan_evaluation`): no shuffling and no quota; process ``r`` reads the shards
``r, r + W, …`` (split again among its workers), so every sample is scored exactly once across processes.

Damage: a shard that cannot be opened, a truncated shard and a sample whose members fail their CRC-32 or cannot be
decoded are read around: each lost sample is replaced by the next readable sample of the same worker, whose
``replaces`` field names the lost one (its shard and key, or its position in a shard that lost it) and why, exactly
as the map-style dataset does, so batches keep their size and an evaluation leaves the row out of its scores. With
``on_corrupt="raise"`` the first damage raises :class:`~crossmost_data.format.ShardCorruptError`.
"""

from __future__ import annotations

import logging
import tarfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from crossmost_data.format import ShardCorruptError, decode_sample, decode_view
from crossmost_data.format.manifest import Manifest, ManifestError
from crossmost_data.loader.config import AugmentConfig
from crossmost_data.loader.remote import RemoteOpenError, join_location, location_name, open_location, read_manifest
from crossmost_data.loader.sample import LoaderMode, resolve_label
from crossmost_data.loader.split import OnCorrupt, ShardSplit
from crossmost_data.loader.view_policy import ViewPolicy

__all__ = ["StreamingEpochs", "StreamingShardDataset"]

logger = logging.getLogger(__name__)

_SHARD_ORDER = 0x5348  # seed tags of the shard permutation and of the shuffle buffer
_BUFFER = 0x4255


@dataclass(frozen=True)
class _Raw:
    """A stored sample as read from the stream: its members, undecoded."""

    index: int
    repeat: int
    shard: str
    key: str
    files: dict[str, bytes]


@dataclass(frozen=True)
class _Lost:
    """A sample the stream could not deliver, and why."""

    index: int
    reason: str


_Item = _Raw | _Lost


@dataclass(frozen=True)
class _Layout:
    """How the processes and workers share the stream: training (``batches`` micro-batches per process and epoch)
    or evaluation (``batches`` is None: every sample once)."""

    rank: int = 0
    world: int = 1
    batch_size: int = 1
    batches: int | None = None


class StreamingEpochs:
    """The training sampler's contract for a :class:`StreamingShardDataset`: ``steps_per_epoch``,
    ``batches_per_epoch`` and ``set_epoch(epoch, start_batch)`` (made by
    :meth:`StreamingShardDataset.plan_training`).

    Resuming with ``set_epoch(epoch, start_batch)`` reproduces the rest of the interrupted epoch exactly (the same
    samples in the same micro-batches, with the same augmentations), for the same number of processes, loader workers
    and batch size: each worker reads its shards again from the start of the epoch and passes the samples already
    served through its shuffle buffer without decoding them. What a resume does not reproduce: a damaged sample is
    replaced by the next readable one, and when the damage lies just before the resume point that replacement may be
    another readable sample; and with another number of processes, workers or batch size the epoch is dealt
    differently (it stays complete and seeded).
    """

    def __init__(self, dataset: StreamingShardDataset, *, steps_per_epoch: int, grad_accum_steps: int) -> None:
        self.dataset = dataset
        self.steps_per_epoch = steps_per_epoch
        self.grad_accum_steps = grad_accum_steps
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Micro-batches of one process in a full epoch."""
        return self.steps_per_epoch * self.grad_accum_steps

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's shard order and shuffling, and skip this process's first ``start_batch`` micro-batches.

        Raises:
            ValueError: ``start_batch`` is outside ``[0, batches_per_epoch]``.
        """
        if not 0 <= start_batch <= self.batches_per_epoch:
            raise ValueError(f"start_batch must be in [0, {self.batches_per_epoch}], got {start_batch}")
        self.epoch = epoch
        self.start_batch = start_batch
        self.dataset.set_epoch(epoch)
        self.dataset.start_batch.fill_(start_batch)


class StreamingShardDataset(ShardSplit, IterableDataset[dict[str, Any]]):
    """The samples of one split, streamed shard by shard from a folder or a URL (see the module docstring).

    Args:
        root: The prepared dataset: a local folder or a URL (``s3://bucket/data``, ``https://host/data``, …) under
            which ``manifest.json`` and the shards lie.
        split: Split name.
        mode: ``"train"`` or ``"eval"``; it and ``view_policy``, ``fixed_view``, ``num_points``, ``image_size``,
            ``views_subset``, ``seed``, ``on_corrupt``, ``augment``, ``use_colors`` and ``train_outputs`` are as for
            :class:`~crossmost_data.loader.ShardDataset`.
        shuffle_buffer: Samples held by each worker's shuffle buffer in training (undecoded, so about the size of a
            stored sample each); 0 or 1 keeps the shard order.
        manifest: The manifest when the caller has read it already; ``None`` reads it from ``root``.

    Without a plan (:meth:`plan_training`, :meth:`plan_evaluation`) the dataset yields every sample of the split
    once, in manifest order when read by one process without workers.

    Raises:
        ManifestError: ``manifest.json`` cannot be read from ``root``, or the split is not in it.
        ValueError: An inconsistent setting (message names it).
    """

    def __init__(
        self,
        root: str,
        split: str,
        *,
        mode: LoaderMode = "train",
        view_policy: ViewPolicy | None = None,
        fixed_view: int = 0,
        num_points: int | None = None,
        image_size: int | None = None,
        views_subset: int | None = None,
        seed: int = 0,
        on_corrupt: OnCorrupt = "skip",
        augment: AugmentConfig | None = None,
        use_colors: bool = False,
        train_outputs: Collection[str] | None = None,
        shuffle_buffer: int = 128,
        manifest: Manifest | None = None,
    ) -> None:
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self.location = str(root)
        manifest = manifest if manifest is not None else read_manifest(self.location)
        super().__init__(
            root,
            split,
            mode=mode,
            view_policy=view_policy,
            fixed_view=fixed_view,
            num_points=num_points,
            image_size=image_size,
            views_subset=views_subset,
            seed=seed,
            on_corrupt=on_corrupt,
            augment=augment,
            use_colors=use_colors,
            train_outputs=train_outputs,
            manifest=manifest,
        )
        self.shuffle_buffer = shuffle_buffer
        self.shards = self.manifest.shards(split)
        if not self.shards:
            raise ManifestError(f"{self.location}: split {split!r} has no shards")
        self._offsets = np.concatenate([[0], np.cumsum([s.num_samples for s in self.shards])]).tolist()
        self._name = location_name(self.location)
        self.start_batch = torch.zeros(1, dtype=torch.int64).share_memory_()
        """The micro-batches of this process already consumed in the current epoch (set by
        :meth:`StreamingEpochs.set_epoch`; shared with running workers)."""
        self.skipped: list[Any] = []
        """Nothing is indexed in advance: damage is named by the ``replaces`` field of the samples served."""
        self._layout = _Layout()

    def __len__(self) -> int:
        """The samples of the split as the manifest lists them."""
        return int(self._offsets[-1])

    def __repr__(self) -> str:
        return (
            f"StreamingShardDataset(root={self.location!r}, split={self.split!r}, mode={self.mode!r}, "
            f"shards={len(self.shards)}, samples={len(self)})"
        )

    # -- plans ------------------------------------------------------------------------------------------------

    def plan_training(
        self, *, batch_size: int, grad_accum_steps: int = 1, num_replicas: int = 1, rank: int = 0, num_workers: int = 0
    ) -> StreamingEpochs:
        """Deal the epochs of training among ``num_replicas`` processes of ``num_workers`` loader workers each.

        Returns:
            The epochs' contract (``steps_per_epoch``, ``batches_per_epoch``, ``set_epoch``).

        Raises:
            ValueError: Fewer shards than processes × workers (each reads whole shards), fewer samples than one
                global batch, or a bad size; the message gives the numbers.
        """
        _check_world(num_replicas, rank)
        if batch_size < 1 or grad_accum_steps < 1:
            raise ValueError(f"batch_size and grad_accum_steps must be >= 1, got {batch_size}, {grad_accum_steps}")
        readers = num_replicas * max(1, num_workers)
        if len(self.shards) < readers:
            raise ValueError(
                f"{self.location} split {self.split!r} has {len(self.shards)} shard(s), fewer than the "
                f"{num_replicas} process(es) × {max(1, num_workers)} loader worker(s) = {readers} readers that each "
                "stream whole shards: lower data.num_workers, or prepare the data in more, smaller shards "
                "(samples_per_shard)"
            )
        global_batch = batch_size * grad_accum_steps * num_replicas
        if len(self) < global_batch:
            raise ValueError(
                f"the dataset has {len(self)} samples, fewer than one global batch of {global_batch} "
                "(optim.global_batch_size): lower the global batch or add data"
            )
        steps = len(self) // global_batch
        self._layout = _Layout(rank, num_replicas, batch_size, steps * grad_accum_steps)
        return StreamingEpochs(self, steps_per_epoch=steps, grad_accum_steps=grad_accum_steps)

    def plan_evaluation(self, *, num_replicas: int = 1, rank: int = 0) -> None:
        """Read every sample once across ``num_replicas`` processes (shards ``rank, rank + num_replicas, …``).

        Raises:
            ValueError: Fewer shards than processes.
        """
        _check_world(num_replicas, rank)
        if len(self.shards) < num_replicas:
            raise ValueError(
                f"{self.location} split {self.split!r} has {len(self.shards)} shard(s), fewer than the "
                f"{num_replicas} processes that each stream whole shards: evaluate on fewer processes or prepare "
                "the data in more, smaller shards (samples_per_shard)"
            )
        self._layout = _Layout(rank, num_replicas)

    # -- iteration --------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        layout = self._layout
        if layout.batches is None:
            mine = list(range(len(self.shards)))[layout.rank :: layout.world][worker::workers]
            yield from self._serve(self._read_pass(mine, 0), quota=None, skip=0)
            return
        epoch = self.epoch
        start = int(self.start_batch.item())
        logical = (worker + start) % workers  # so that the loader's round-robin resumes at micro-batch `start`
        order = _rng(self.seed, epoch, _SHARD_ORDER).permutation(len(self.shards)).tolist()
        mine = order[layout.rank :: layout.world][logical::workers]
        batches = layout.batches // workers + (logical < layout.batches % workers)
        if batches and not mine:
            raise ValueError(
                f"{self.location} split {self.split!r}: loader worker {logical} of {workers} has no shard to read "
                f"({len(self.shards)} shards for {layout.world} process(es)); use fewer workers"
            )
        skipped = max(0, -(-(start - logical) // workers))
        items = self._read_cycle(mine, _rng(self.seed, epoch, _BUFFER, layout.rank, logical))
        yield from self._serve(items, quota=batches * layout.batch_size, skip=skipped * layout.batch_size)

    def _serve(self, items: Iterator[_Item], *, quota: int | None, skip: int) -> Iterator[dict[str, Any]]:
        """Build the items ``skip …`` (up to ``quota``), each lost one replaced by the next readable sample."""
        if quota is not None and skip >= quota:  # nothing left for this worker in this epoch
            return
        pending: list[_Lost] = []
        last: dict[str, Any] | None = None
        misses = 0
        for position, item in enumerate(items):
            if position < skip:
                continue
            inside = quota is None or position < quota  # beyond the quota, only a stand-in is looked for
            sample: dict[str, Any] | None = None
            if isinstance(item, _Raw):
                try:
                    sample = self._build(item)
                except ShardCorruptError as error:
                    if self.on_corrupt == "raise":
                        raise
                    item = _Lost(item.index, str(error))
            if sample is None:
                assert isinstance(item, _Lost)
                if inside:
                    pending.append(item)
                misses += 1
                if misses > len(self) + 1:
                    raise ShardCorruptError(
                        f"{self.location} split {self.split!r}: no sample can be read (first failure: "
                        f"{pending[0].reason if pending else item.reason})"
                    )
                continue
            misses = 0
            for lost in pending:
                yield _stand_in(sample, lost)
            pending = []
            if not inside:
                return
            last = sample
            yield sample
            if quota is not None and position + 1 >= quota:
                return
        if pending:
            if last is None:
                raise ShardCorruptError(
                    f"{self.location} split {self.split!r}: no sample of this reader's shards can be read (first "
                    f"failure: {pending[0].reason})"
                )
            for lost in pending:
                yield _stand_in(last, lost)

    def _build(self, raw: _Raw) -> dict[str, Any]:
        """Decode, check and build one sample (:class:`ShardCorruptError` naming the shard and the key)."""
        source = f"{self._name}/{raw.shard}"
        where = f"{source}: sample {raw.key!r}"
        try:
            decoded = decode_sample({"__key__": raw.key.encode("utf-8"), **raw.files}, source=source)
            where = f"{source}: sample {decoded.uid!r}"
            if len(decoded.views) < self.num_views:
                raise ShardCorruptError(f"{where}: {len(decoded.views)} view(s) stored, {self.num_views} expected")
            label = resolve_label(decoded.meta, self.manifest.class_names, where=where)
            return self.builder(
                index=raw.index,
                uid=decoded.uid,
                label=label,
                points=decoded.points,
                load_view=lambda view: decode_view(decoded.views[view], source=f"{where} view {view}"),
                epoch=self.epoch,
                repeat=raw.repeat,
            )
        except ShardCorruptError:
            raise
        except (OSError, ValueError) as error:  # content the sample builder cannot use
            raise ShardCorruptError(f"{where} cannot be read ({error})") from error

    # -- reading the shards -----------------------------------------------------------------------------------

    def _read_cycle(self, shards: list[int], rng: np.random.Generator) -> Iterator[_Item]:
        """The shards read again and again (``repeat`` 0, 1, …) until the consumer stops, each pass through the
        shuffle buffer, which is emptied at the end of the pass (so a sample is served again only after every
        sample of the worker's shards was served once)."""
        for repeat in count():
            readable = False
            for item in _shuffled(self._read_pass(shards, repeat), rng, self.shuffle_buffer):
                readable = readable or isinstance(item, _Raw)
                yield item
            if not readable:
                names = ", ".join(self.shards[s].file for s in shards[:5])
                raise ShardCorruptError(f"{self.location} split {self.split!r}: no sample of {names} can be read")

    def _read_pass(self, shards: list[int], repeat: int) -> Iterator[_Item]:
        for shard in shards:
            yield from self._read_shard(shard, repeat)

    def _read_shard(self, shard: int, repeat: int) -> Iterator[_Item]:
        """The samples of one shard in stored order; the samples it lost as :class:`_Lost`."""
        entry = self.shards[shard]
        base = int(self._offsets[shard])
        location = join_location(self.location, entry.file)
        got = extra = 0
        problem: str | None = None
        try:
            with open_location(location) as handle, tarfile.open(fileobj=handle, mode="r|") as tar:
                for key, files in _sample_groups(tar):
                    if got == entry.num_samples:
                        extra += 1
                        continue
                    yield _Raw(base + got, repeat, entry.file, key, files)
                    got += 1
        except RemoteOpenError as error:
            problem = str(error)
        except (tarfile.TarError, OSError, EOFError) as error:
            problem = f"{location}: the shard is truncated or damaged after {got} sample(s) ({error})"
        except Exception as error:  # a filesystem's own error mid-stream (aiohttp's payload errors, botocore's, …)
            problem = f"{location}: reading stopped after {got} sample(s) ({type(error).__name__}: {error})"
        if problem is None and got < entry.num_samples:
            problem = f"{location}: the shard holds {got} sample(s), the manifest lists {entry.num_samples}"
        if extra:
            logger.warning("%s: %d sample(s) beyond the %d the manifest lists are left out", location, extra, got)
        if problem is None:
            return
        if self.on_corrupt == "raise":
            raise ShardCorruptError(problem)
        for position in range(got, entry.num_samples):
            yield _Lost(base + position, f"{self._name}/{entry.file}: sample #{position} of the shard lost: {problem}")


def _sample_groups(tar: tarfile.TarFile) -> Iterator[tuple[str, dict[str, bytes]]]:
    """The members of a tar read as a stream, grouped by sample key (``uid.points.npy`` → key ``uid``, member
    ``points.npy``); a group is yielded once the next key starts, so a sample cut off by damage is not."""
    key: str | None = None
    files: dict[str, bytes] = {}
    for member in tar:
        if not member.isfile():
            continue
        name, _, suffix = member.name.rsplit("/", 1)[-1].partition(".")
        if key is not None and name != key:
            yield key, files
            files = {}
        key = name
        handle = tar.extractfile(member)
        data = handle.read() if handle is not None else b""
        if len(data) != member.size:
            raise EOFError(f"member {member.name!r} holds {len(data)} of {member.size} bytes")
        files[suffix] = data
    if key is not None:
        yield key, files


def _shuffled(items: Iterator[_Item], rng: np.random.Generator, size: int) -> Iterator[_Item]:
    """A shuffle buffer of ``size`` items: each item out is drawn at random from the buffer (no shuffling below 2)."""
    if size < 2:
        yield from items
        return
    buffer: list[_Item] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        pick = int(rng.integers(size))
        buffer[pick], item = item, buffer[pick]
        yield item
    while buffer:
        pick = int(rng.integers(len(buffer)))
        buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
        yield buffer.pop()


def _stand_in(sample: dict[str, Any], lost: _Lost) -> dict[str, Any]:
    """``sample`` served in place of the lost one: its index, and what it replaces."""
    return {**sample, "index": lost.index, "replaces": lost.reason}


def _rng(*words: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(words))))


def _check_world(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"rank must be in [0, num_replicas); got rank={rank}, num_replicas={num_replicas}")
