"""``manifest.json``: the description of a prepared dataset folder (DESIGN.md §2)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "ManifestError",
    "ShardEntry",
    "SkippedItem",
    "class_list_digest",
    "write_json_atomic",
    "write_text_atomic",
]

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class ManifestError(ValueError):
    """``manifest.json`` is missing, not JSON, or lacks a required key; the message names the file and key."""


@dataclass(frozen=True)
class ShardEntry:
    """One shard file of a split.

    Attributes:
        file: File name relative to the dataset folder, e.g. ``"train-000000.tar"``.
        num_samples: Number of samples in the shard.
        sha256: Hex digest of the whole tar file.
    """

    file: str
    num_samples: int
    sha256: str


@dataclass(frozen=True)
class SkippedItem:
    """An item the preparation could not use, and why."""

    uid: str
    source: str
    split: str
    reason: str


@dataclass
class Manifest:
    """The contents of ``manifest.json``.

    Attributes:
        dataset: Dataset name (the reader name, e.g. ``"modelnet40"``).
        class_names: Ordered class names; the index is the label.
        splits: Split name → its shards in order.
        num_views: Views per sample.
        image_size: Height and width of every view in pixels.
        points_per_sample: Points per sample (rows of ``points.npy``).
        point_layout: ``"xyz"`` (N×3) or ``"xyzrgb"`` (N×6, rgb in [0, 1]).
        up_axis: Always ``"y"``.
        config: The exact preparation configuration (JSON-compatible).
        skipped: Items left out, with reasons.
        class_counts: Split → class name → number of labelled samples (for checks and summaries).
        unlabelled_counts: Split → number of samples without a label (json ``label`` -1, ``class_name`` null);
            empty for a fully labelled dataset.
        crossmost_data_version: Version of ``crossmost-data`` that wrote the folder.
        created: ISO-8601 UTC time of writing.
        format_version: Version of the on-disk format.
        class_names_sha256: Digest of the class list the shards were written with (:func:`class_list_digest`),
            filled when the manifest is first written; a class list edited afterwards no longer matches it (see
            :meth:`class_names_problem`). Empty in manifests written before it was recorded.
    """

    dataset: str
    class_names: list[str]
    splits: dict[str, list[ShardEntry]]
    num_views: int
    image_size: int
    points_per_sample: int
    point_layout: Literal["xyz", "xyzrgb"] = "xyz"
    up_axis: str = "y"
    config: dict[str, Any] = field(default_factory=dict)
    skipped: list[SkippedItem] = field(default_factory=list)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    unlabelled_counts: dict[str, int] = field(default_factory=dict)
    crossmost_data_version: str = ""
    created: str = ""
    format_version: int = FORMAT_VERSION
    class_names_sha256: str = ""

    def num_samples(self, split: str) -> int:
        """Total number of samples of ``split`` (``ManifestError`` when the split does not exist)."""
        return sum(entry.num_samples for entry in self.shards(split))

    def num_labelled(self, split: str) -> int:
        """Samples of ``split`` with a known label (``ManifestError`` when the split does not exist)."""
        return self.num_samples(split) - self.unlabelled_counts.get(split, 0)

    def shards(self, split: str) -> list[ShardEntry]:
        """The shard entries of ``split``; raises ``ManifestError`` listing the available splits otherwise."""
        if split not in self.splits:
            raise ManifestError(f"split {split!r} is not in the manifest; available splits: {sorted(self.splits)}")
        return self.splits[split]

    def class_names_problem(self) -> str | None:
        """Why ``class_names`` is not the list the shards were written with (``None`` when it is, or when the
        manifest predates the recorded digest)."""
        if not self.class_names_sha256 or class_list_digest(self.class_names) == self.class_names_sha256:
            return None
        return (
            f"class_names ({len(self.class_names)} classes) are not the list the shards were written with: a class "
            "was added, removed, renamed or moved after preparation, which changes the classifier's classes or the "
            "labels; restore the list, or prepare the dataset again"
        )

    def label_of(self, class_name: str) -> int:
        """The label (index in ``class_names``) of ``class_name``."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            raise ManifestError(f"class {class_name!r} is not in the manifest's class_names") from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dictionary (the exact content of ``manifest.json``)."""
        data = asdict(self)
        data["splits"] = {name: [asdict(e) for e in entries] for name, entries in self.splits.items()}
        data["skipped"] = [asdict(s) for s in self.skipped]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = MANIFEST_NAME) -> Manifest:
        """Build a manifest from its JSON dictionary.

        Raises:
            ManifestError: A required key is missing or has the wrong type; the message names ``source`` and the key.
        """
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
        required = ("dataset", "class_names", "splits", "num_views", "image_size", "points_per_sample")
        for key in required:
            if key not in data:
                raise ManifestError(f"{source}: missing required key {key!r}")
        try:
            splits: dict[str, list[ShardEntry]] = {}
            for split, entries in data["splits"].items():
                parsed = []
                for i, entry in enumerate(entries):
                    for key in ("file", "num_samples", "sha256"):
                        if key not in entry:
                            raise ManifestError(f"{source}: missing key {key!r} in splits[{split!r}][{i}]")
                    parsed.append(ShardEntry(str(entry["file"]), int(entry["num_samples"]), str(entry["sha256"])))
                splits[str(split)] = parsed
            skipped = []
            for i, item in enumerate(data.get("skipped", [])):
                for key in ("uid", "source", "split", "reason"):
                    if key not in item:
                        raise ManifestError(f"{source}: missing key {key!r} in skipped[{i}]")
                skipped.append(
                    SkippedItem(str(item["uid"]), str(item["source"]), str(item["split"]), str(item["reason"]))
                )
            layout = data.get("point_layout", "xyz")
            if layout not in ("xyz", "xyzrgb"):
                raise ManifestError(f"{source}: key 'point_layout' must be 'xyz' or 'xyzrgb', got {layout!r}")
            return cls(
                dataset=str(data["dataset"]),
                class_names=[str(c) for c in data["class_names"]],
                splits=splits,
                num_views=int(data["num_views"]),
                image_size=int(data["image_size"]),
                points_per_sample=int(data["points_per_sample"]),
                point_layout=layout,
                up_axis=str(data.get("up_axis", "y")),
                config=dict(data.get("config", {})),
                skipped=skipped,
                class_counts={
                    str(split): {str(k): int(v) for k, v in counts.items()}
                    for split, counts in data.get("class_counts", {}).items()
                },
                unlabelled_counts={str(k): int(v) for k, v in data.get("unlabelled_counts", {}).items()},
                crossmost_data_version=str(data.get("crossmost_data_version", "")),
                created=str(data.get("created", "")),
                format_version=int(data.get("format_version", FORMAT_VERSION)),
                class_names_sha256=str(data.get("class_names_sha256", "")),
            )
        except ManifestError:
            raise
        except (TypeError, ValueError, AttributeError) as error:
            raise ManifestError(f"{source}: malformed value ({error})") from error

    @classmethod
    def read(cls, directory: str | os.PathLike[str]) -> Manifest:
        """Read ``<directory>/manifest.json``.

        Raises:
            ManifestError: The file is missing, is not valid JSON, or lacks a required key.
        """
        path = Path(directory) / MANIFEST_NAME
        if not path.is_file():
            hint = "" if Path(directory).is_dir() else " (the folder does not exist)"
            raise ManifestError(
                f"{path}: no manifest{hint}; prepare the dataset first with `crossmost-data render` or "
                "`crossmost-data synth`, or finish an interrupted/split run so that the manifest gets written"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ManifestError(f"{path}: not valid JSON ({error})") from error
        return cls.from_dict(data, source=str(path))

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``<directory>/manifest.json`` atomically (temporary file in the same folder, then rename).

        Fills ``crossmost_data_version`` and ``created`` when empty. Returns the path written.
        """
        if not self.crossmost_data_version:
            from crossmost_data import __version__

            self.crossmost_data_version = __version__
        if not self.created:
            self.created = datetime.now(UTC).replace(microsecond=0).isoformat()
        if not self.class_names_sha256:
            self.class_names_sha256 = class_list_digest(self.class_names)
        path = Path(directory) / MANIFEST_NAME
        write_json_atomic(path, self.to_dict())
        return path


def class_list_digest(class_names: list[str]) -> str:
    """Hex sha256 of a class list, one name per line, in order."""
    return hashlib.sha256("\n".join(class_names).encode("utf-8")).hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` with :func:`write_text_atomic`."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The temporary file is created exclusively under a unique name, like ``mkstemp`` would, but with a plain
    ``open``, so the result has the permissions any other file gets (0666 minus the umask), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
