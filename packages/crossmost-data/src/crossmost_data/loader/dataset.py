"""Map-style dataset over the shards of a prepared dataset folder (DESIGN.md §2, docs/architecture.md §4)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from crossmost_data.format import ShardCorruptError, check_member, decode_sample, decode_view, file_sha256
from crossmost_data.format.manifest import Manifest
from crossmost_data.format.reader import IndexedSample, ShardScan, read_span, scan_shard
from crossmost_data.loader.config import AugmentConfig
from crossmost_data.loader.sample import LoaderMode, resolve_label
from crossmost_data.loader.split import OnCorrupt, ShardSplit
from crossmost_data.loader.view_policy import ViewPolicy
from crossmost_data.prepare.plan import read_record

__all__ = ["OnCorrupt", "ShardDataset", "SkippedSamples"]

logger = logging.getLogger(__name__)

_MAX_KEYS_LOGGED = 10


@dataclass(frozen=True)
class SkippedSamples:
    """Samples of one shard that the dataset left out.

    Attributes:
        shard: The shard file, relative to the dataset folder (e.g. ``"train-000003.tar"``).
        reason: What is wrong with it.
        count: How many of the samples the manifest lists for this shard are left out.
        keys: The keys of the left-out samples, where the shard still names them.
    """

    shard: str
    reason: str
    count: int
    keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        shown = ", ".join(self.keys[:_MAX_KEYS_LOGGED]) + (" …" if len(self.keys) > _MAX_KEYS_LOGGED else "")
        return f"{self.shard}: {self.count} sample(s) skipped ({self.reason})" + (f" [{shown}]" if shown else "")


@dataclass(frozen=True)
class _Entry:
    shard: int
    uid: str
    label: int
    location: IndexedSample


class ShardDataset(ShardSplit, Dataset[dict[str, Any]]):
    """The samples of one split, read by random access from the tar shards listed in ``manifest.json``.

    The shards are indexed once at construction (member offsets, cached per process); worker processes reopen the
    files lazily, so the dataset works with ``fork`` and ``spawn`` loader workers alike. Only the view(s) a sample
    needs are read and decoded. Every random choice is a function of ``(seed, epoch, index)``: call
    :meth:`set_epoch` at the start of every epoch (it reaches persistent workers too, through shared memory).

    Damage is found at two moments. Indexing lists what the tar structure and the json members reveal (a truncated
    or missing shard, a sample without its members, a label that disagrees with the manifest) in :attr:`skipped`,
    by shard and sample key, and leaves those samples out. Reading checks the bytes of the cloud and of each view
    against the CRC-32 the sample's json records, and decodes them: with ``on_corrupt="skip"`` a sample that fails
    is replaced by the next readable one (so batches keep their size and a resumed run behaves the same), and the
    replacement's ``replaces`` field names the unreadable sample, its shard and the reason, for the caller to list
    (an evaluation leaves such rows out of its scores). When more than ``max_unreadable`` of the split is left out
    at indexing, the dataset refuses to build with one message saying why.

    Args:
        root: The prepared dataset folder.
        split: Split name, e.g. ``"train"``.
        mode: ``"train"`` yields ``index, uid, label, replaces, image_weak, image_strong, image_mask, points_weak,
            points_strong``; ``"eval"`` yields ``index, uid, label, replaces, image, points`` (+ ``views`` for
            ``all``).
        view_policy: ``"random"``, ``"fixed"`` or ``"all"`` (eval only); ``None`` = random for train, fixed for eval.
        fixed_view: The view used by ``fixed`` (and as ``image`` by ``all``).
        num_points: Points per cloud; a deterministic subsample when the stored cloud is larger (fixed per sample
            in eval, fresh each epoch in train). ``None`` = the stored count.
        image_size: Output image size; ``None`` = the manifest's.
        views_subset: Use only the first k stored views (the number-of-views ablation).
        seed: Run seed.
        on_corrupt: ``"skip"`` leaves damaged samples out (logged and listed in :attr:`skipped`, or named by the
            ``replaces`` field of the sample read instead); ``"raise"`` raises
            :class:`~crossmost_data.format.ShardCorruptError` naming them.
        max_unreadable: The largest fraction of the split's samples that may be left out at indexing (with
            ``on_corrupt="skip"``); beyond it the data is considered broken rather than damaged.
        log_skipped: Log a warning listing :attr:`skipped` (a caller that reports the list itself passes False).
        augment: Augmentation settings (training).
        use_colors: Return ``N×6`` xyz + rgb clouds (needs an ``xyzrgb`` dataset); default ``N×3``.
        train_outputs: Which of the training entries to build (``index``, ``uid``, ``label`` and ``replaces``
            always come); ``None`` builds them all.
        verify_checksums: Compare each shard's sha256 with the manifest (reads every byte once).
        manifest: The folder's manifest when the caller has read it already (``root/manifest.json`` is then not
            read again); ``None`` reads it.

    Raises:
        ManifestError: The manifest is missing or invalid, or the split does not exist.
        ShardCorruptError: With ``on_corrupt="raise"``, any damaged shard or sample; always, when more than
            ``max_unreadable`` of the samples (or all of them) cannot be used.
        ValueError: An inconsistent setting (message names it).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
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
        verify_checksums: bool = False,
        max_unreadable: float = 0.5,
        log_skipped: bool = True,
        manifest: Manifest | None = None,
    ) -> None:
        if not 0.0 <= max_unreadable <= 1.0:
            raise ValueError(f"max_unreadable must be a fraction in [0, 1], got {max_unreadable}")
        self.max_unreadable = max_unreadable
        self._log_skipped = log_skipped
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
        self._shard_paths: list[Path] = []
        self._entries: list[_Entry] = []
        self.skipped: list[SkippedSamples] = []
        self._index_shards(verify_checksums)
        self._files: dict[int, IO[bytes]] = {}
        self._files_pid = os.getpid()
        self._unreadable: dict[int, str] = {}
        """Index → why it cannot be read, for the samples this process already failed to read."""

    # -- construction -----------------------------------------------------------------------------------------

    def _index_shards(self, verify_checksums: bool) -> None:
        class_names = self.manifest.class_names
        for shard_id, entry in enumerate(self.manifest.shards(self.split)):
            path = self.root / entry.file
            self._shard_paths.append(path)
            scan = scan_shard(path, self.manifest.num_views)
            samples = list(scan.samples)
            reasons = [scan.problem] if scan.problem else []
            bad_keys = list(scan.incomplete) + _lost_keys(path, scan)
            if scan.incomplete:
                reasons.append(f"{len(scan.incomplete)} sample(s) miss members (points.npy, json or views)")
            if verify_checksums and scan.problem is None and file_sha256(path) != entry.sha256:
                reasons.append("sha256 differs from the manifest")
                bad_keys, samples = [s.key for s in samples], []
            if len(samples) + len(scan.incomplete) > entry.num_samples:
                reasons.append(
                    f"holds {len(samples) + len(scan.incomplete)} samples, the manifest lists {entry.num_samples}"
                )
                bad_keys, samples = bad_keys + [s.key for s in samples], []
            kept = 0
            for sample, meta_or_error in zip(samples, _read_metas(path, samples), strict=True):
                try:
                    if isinstance(meta_or_error, Exception):
                        raise meta_or_error
                    label = resolve_label(meta_or_error, class_names, where=f"sample {sample.key!r}")
                except ValueError as error:
                    reasons.append(f"sample {sample.key!r}: {error}")
                    bad_keys.append(sample.key)
                    continue
                uid = str(meta_or_error.get("uid", sample.key))
                self._entries.append(_Entry(shard_id, uid, label, sample))
                kept += 1
            if kept < entry.num_samples or reasons:
                self.skipped.append(
                    SkippedSamples(
                        entry.file,
                        "; ".join(reasons) or "fewer samples than listed",
                        entry.num_samples - kept,
                        tuple(bad_keys),
                    )
                )
        if self.skipped:
            report = "\n  ".join(str(s) for s in self.skipped)
            if self.on_corrupt == "raise":
                raise ShardCorruptError(f"{self.root} split {self.split!r} has damaged shards:\n  {report}")
            self._check_mostly_readable()
            if self._log_skipped:
                logger.warning("%s split %r: skipping damaged samples:\n  %s", self.root, self.split, report)

    def _check_mostly_readable(self) -> None:
        listed = self.manifest.num_samples(self.split)
        lost = sum(s.count for s in self.skipped)
        if self._entries and lost <= self.max_unreadable * listed:
            return
        raise ShardCorruptError(
            f"{self.root} split {self.split!r}: {lost} of {listed} samples cannot be used "
            f"(more than {self.max_unreadable:.0%}), so the data is broken rather than damaged: "
            f"{_diagnose(self.skipped)}; check it with `crossmost-data verify {self.root}`"
        )

    # -- metadata ---------------------------------------------------------------------------------------------

    @property
    def labels(self) -> np.ndarray:
        """The label of every sample (int64, ``-1`` when unknown), in index order."""
        return np.array([entry.label for entry in self._entries], dtype=np.int64)

    @property
    def uids(self) -> list[str]:
        """The uid of every sample, in index order."""
        return [entry.uid for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"ShardDataset(root={str(self.root)!r}, split={self.split!r}, mode={self.mode!r}, "
            f"view_policy={self.view_policy!r}, samples={len(self)}, skipped={sum(s.count for s in self.skipped)})"
        )

    # -- reading ----------------------------------------------------------------------------------------------

    def _fd(self, shard: int) -> int:
        if self._files_pid != os.getpid():  # a forked worker: do not share the parent's file objects
            self._files = {}
            self._files_pid = os.getpid()
        handle = self._files.get(shard)
        if handle is None:
            handle = open(self._shard_paths[shard], "rb")  # noqa: SIM115 - kept open for the life of the worker
            self._files[shard] = handle
        return handle.fileno()

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        index = index % len(self)
        try:
            return self._read(index)
        except ShardCorruptError as error:
            if self.on_corrupt == "raise":
                raise
            return self._stand_in(index, str(error))

    def _read(self, index: int) -> dict[str, Any]:
        """Read, check and build sample ``index`` (:class:`ShardCorruptError` naming the shard, key and member)."""
        known = self._unreadable.get(index)
        if known is not None:
            raise ShardCorruptError(known)
        entry = self._entries[index]
        path = self._shard_paths[entry.shard]
        location = entry.location
        where = f"{self.root.name}/{path.name}: sample {entry.uid!r}"
        try:
            fd = self._fd(entry.shard)
            decoded = decode_sample(
                {
                    "__key__": location.key,
                    "json": read_span(fd, location.json),
                    "points.npy": read_span(fd, location.points),
                },
                source=f"{self.root.name}/{path.name}",
            )

            def load_view(view: int) -> Image.Image:
                data = read_span(fd, location.views[view])
                if location.view_names:
                    check_member(decoded.meta, location.view_names[view], data, where=where)
                return decode_view(data, source=f"{where} view {view}")

            return self.builder(
                index=index,
                uid=entry.uid,
                label=entry.label,
                points=decoded.points,
                load_view=load_view,
                epoch=self.epoch,
            )
        except ShardCorruptError as error:
            self._unreadable[index] = str(error)
            raise
        except (OSError, ValueError) as error:  # a short read, or content the sample builder cannot use
            self._unreadable[index] = f"{where} cannot be read ({error})"
            raise ShardCorruptError(self._unreadable[index]) from error

    def _stand_in(self, index: int, reason: str) -> dict[str, Any]:
        """The next readable sample after ``index`` (in index order), marked as replacing the unreadable one."""
        for step in range(1, len(self)):
            try:
                sample = self._read((index + step) % len(self))
            except ShardCorruptError:
                continue
            sample["index"] = index
            sample["replaces"] = reason
            return sample
        raise ShardCorruptError(f"{self.root} split {self.split!r}: no sample can be read (first failure: {reason})")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._files_pid = os.getpid()


def _lost_keys(path: Path, scan: ShardScan) -> list[str]:
    """Keys of the samples a damaged shard lost entirely (not even a member left), from the shard's record
    (``<shard>.json``, written next to it at preparation); none when the shard is whole or has no record."""
    if scan.problem is None:
        return []
    record = read_record(path.with_suffix(".json"))
    if record is None:
        return []
    left_out = {item.uid for item in record.skipped}
    present = {s.key for s in scan.samples} | set(scan.incomplete)
    return [uid for uid in record.uids if uid not in left_out and uid not in present]


def _diagnose(skipped: list[SkippedSamples]) -> str:
    """What went wrong, in a few words: the most common kind of problem, with one example."""
    reasons = [part for s in skipped for part in s.reason.split("; ")]
    if not reasons:
        return "no sample is readable"
    labels = [r for r in reasons if "disagrees with class" in r or "is not in the manifest's class_names" in r]
    if len(labels) * 2 > len(reasons):
        return (
            f"the labels stored in the samples disagree with manifest.json's class_names ({len(labels)} samples, "
            f"e.g. {labels[0]}); was the manifest edited, or does it belong to another preparation?"
        )
    return f"e.g. {reasons[0]}"


def _read_metas(path: Path, samples: list[IndexedSample]) -> list[dict[str, Any] | ValueError]:
    """The parsed json member of each sample, or the error that prevents reading it."""
    if not samples:
        return []
    out: list[dict[str, Any] | ValueError] = []
    with open(path, "rb") as handle:
        for sample in samples:
            try:
                meta = json.loads(read_span(handle.fileno(), sample.json))
            except (ValueError, OSError) as error:
                out.append(ValueError(f"the json member cannot be read ({error})"))
                continue
            out.append(meta if isinstance(meta, dict) else ValueError("the json member is not an object"))
    return out
