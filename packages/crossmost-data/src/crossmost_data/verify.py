"""``crossmost-data verify DIR``: check a prepared dataset against its manifest.

Every shard listed in ``manifest.json`` is re-hashed (sha256) and read through; sample counts, the CRC-32 of every
member, decodability of points and views, point shape, view count and size, labels and uid uniqueness are checked.
The class list must be the one the shards were written with (a class added to, removed from or moved in
``manifest.json`` by hand changes the classifier's class count or its labels), and ``class_counts`` may only name
listed classes. Every mismatch is reported by shard and sample name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crossmost_data.format import DecodedSample, ShardCorruptError, decode_view, file_sha256, iter_shard
from crossmost_data.format.manifest import Manifest, ManifestError

__all__ = ["VerifyReport", "verify_dataset"]


@dataclass
class VerifyReport:
    """Result of :func:`verify_dataset`.

    Attributes:
        root: The dataset folder.
        problems: One line per mismatch, naming the shard (and sample).
        shards_checked: Shards read.
        samples_checked: Samples decoded.
        unlisted: Tar files in the folder that the manifest does not list (not an error).
    """

    root: Path
    problems: list[str] = field(default_factory=list)
    shards_checked: int = 0
    samples_checked: int = 0
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def format(self) -> str:
        """A readable report."""
        head = f"{self.root}: {self.shards_checked} shard(s), {self.samples_checked} sample(s) checked"
        lines = [head]
        if self.unlisted:
            lines.append(f"note: {len(self.unlisted)} tar file(s) not in the manifest: {', '.join(self.unlisted[:5])}")
        if self.problems:
            lines.append(f"FAILED: {len(self.problems)} problem(s):")
            lines += [f"  {problem}" for problem in self.problems]
        else:
            lines.append("OK: every shard matches the manifest")
        return "\n".join(lines)


def verify_dataset(
    root: str | os.PathLike[str],
    *,
    decode_views: bool = True,
    on_shard: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Verify a prepared dataset folder.

    Args:
        root: The folder holding ``manifest.json``.
        decode_views: Also decode every view image (slower; points and json are always decoded).
        on_shard: Called with each shard's file name before it is checked (progress display).

    Returns:
        The report; ``report.ok`` is false when anything differs from the manifest.
    """
    root = Path(root)
    report = VerifyReport(root)
    try:
        manifest = Manifest.read(root)
    except ManifestError as error:
        report.problems.append(str(error))
        return report
    columns = 6 if manifest.point_layout == "xyzrgb" else 3
    seen: dict[str, str] = {}
    listed: set[str] = set()
    classes_seen: set[str] = set()
    changed = manifest.class_names_problem()
    if changed:
        report.problems.append(f"manifest.json: {changed}")
    for split, entries in manifest.splits.items():
        class_counts: dict[str, int] = {}
        unlabelled = 0
        for entry in entries:
            listed.add(entry.file)
            if on_shard is not None:
                on_shard(entry.file)
            path = root / entry.file
            if not path.is_file():
                report.problems.append(f"{entry.file}: missing")
                continue
            report.shards_checked += 1
            sha = file_sha256(path)
            if sha != entry.sha256:
                report.problems.append(f"{entry.file}: sha256 {sha} differs from the manifest's {entry.sha256}")
            count = 0
            try:
                for sample in iter_shard(path):
                    count += 1
                    report.samples_checked += 1
                    where = f"{entry.file}: sample {sample.uid!r}"
                    if sample.uid in seen:
                        report.problems.append(f"{where}: duplicate uid (also in {seen[sample.uid]})")
                    seen[sample.uid] = entry.file
                    report.problems += _check_sample(sample, manifest, columns, where, decode_views)
                    name = sample.meta.get("class_name")
                    if name is None or name == "":
                        unlabelled += 1
                    else:
                        class_counts[str(name)] = class_counts.get(str(name), 0) + 1
            except ShardCorruptError as error:
                report.problems.append(str(error))
            if count != entry.num_samples:
                report.problems.append(f"{entry.file}: {count} samples, the manifest says {entry.num_samples}")
        expected = manifest.class_counts.get(split)
        if expected is not None and {k: v for k, v in expected.items() if v} != class_counts:
            report.problems.append(
                f"split {split!r}: class counts {class_counts} differ from the manifest's {expected}"
            )
        classes_seen |= set(class_counts)
        if unlabelled != manifest.unlabelled_counts.get(split, 0):
            report.problems.append(
                f"split {split!r}: {unlabelled} unlabelled samples, the manifest says "
                f"{manifest.unlabelled_counts.get(split, 0)}"
            )
    report.problems += _check_class_list(manifest, classes_seen)
    report.unlisted = sorted(p.name for p in root.glob("*.tar") if p.name not in listed)
    return report


def _check_class_list(manifest: Manifest, classes_seen: set[str]) -> list[str]:
    """Classes the samples name that ``class_names`` lacks, and ``class_counts`` entries for unlisted classes."""
    problems = []
    for name in sorted(classes_seen - set(manifest.class_names)):
        problems.append(f"manifest.json: samples have class {name!r}, which is not in class_names")
    for split, counts in manifest.class_counts.items():
        for name in sorted(set(counts) - set(manifest.class_names)):
            problems.append(f"manifest.json: class_counts of split {split!r} names {name!r}, which is not a class")
    return problems


def _check_sample(sample: DecodedSample, manifest: Manifest, columns: int, where: str, decode_views: bool) -> list[str]:
    problems = []
    if sample.points.shape != (manifest.points_per_sample, columns):
        problems.append(
            f"{where}: points shape {sample.points.shape}, expected ({manifest.points_per_sample}, {columns})"
        )
    if len(sample.views) < manifest.num_views:
        problems.append(f"{where}: {len(sample.views)} views, the manifest says {manifest.num_views}")
    label, class_name = sample.meta.get("label"), sample.meta.get("class_name")
    if label == -1 and class_name in (None, ""):
        pass  # an unlabelled sample; the per-split count is checked against the manifest
    elif not isinstance(label, int) or not 0 <= label < len(manifest.class_names):
        problems.append(f"{where}: label {label!r} out of range")
    elif manifest.class_names[label] != class_name:
        problems.append(f"{where}: label {label} is {manifest.class_names[label]!r}, json says {class_name!r}")
    if decode_views:
        for i, data in enumerate(sample.views):
            try:
                image = decode_view(data, source=f"{where} view{i:02d}")
            except ShardCorruptError as error:
                problems.append(str(error))
                continue
            if image.size != (manifest.image_size, manifest.image_size):
                problems.append(f"{where}: view{i:02d} is {image.size}, expected {manifest.image_size}²")
    return problems
