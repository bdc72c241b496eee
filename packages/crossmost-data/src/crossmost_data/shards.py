"""The on-disk sample format (DESIGN.md §2): encoding, decoding and writing/reading WebDataset tar shards.

A shard ``<split>-NNNNNN.tar`` holds samples as consecutive tar members ``<uid>.points.npy``,
``<uid>.view00.png`` … ``<uid>.viewKK.png`` (or ``.jpg``) and ``<uid>.json``. Members are written with fixed
metadata (mtime 0, owner 0, mode 0644) so that preparing the same items twice gives byte-identical shards.

The json member records a CRC-32 of every other member (``"crc32": {"points.npy": "1a2b3c4d", ...}``), so a reader
detects flipped bytes in the cloud or a view when it reads them, at the cost of one ``zlib.crc32`` pass (a few
tens of microseconds for a sample), without hashing the whole shard.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CHECKSUM_KEY",
    "DecodedSample",
    "SampleIndex",
    "ShardCorruptError",
    "ShardInfo",
    "ShardWriter",
    "check_member",
    "decode_sample",
    "decode_view",
    "encode_sample",
    "file_sha256",
    "index_shard",
    "iter_shard",
    "iter_shard_files",
    "read_indexed_sample",
    "shard_name",
]

ImageFormat = Literal["png", "jpg"]
CHECKSUM_KEY = "crc32"
"""Key of the json member that maps every other member's suffix to the hex CRC-32 of its bytes."""
_VIEW_KEY = re.compile(r"^view(\d+)\.(png|jpg|jpeg)$")
_UID = re.compile(r"^[A-Za-z0-9_-]+$")


class ShardCorruptError(ValueError):
    """A shard or a sample in it cannot be read; the message names the shard file and the sample key."""


def shard_name(split: str, index: int) -> str:
    """The file name of shard ``index`` of ``split``, e.g. ``shard_name("train", 3) == "train-000003.tar"``."""
    return f"{split}-{index:06d}.tar"


def _encode_image(image: np.ndarray, image_format: ImageFormat, jpeg_quality: int) -> bytes:
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a view must be an H×W×3 uint8 array, got shape {array.shape} dtype {array.dtype}")
    buffer = io.BytesIO()
    if image_format == "png":
        Image.fromarray(array, mode="RGB").save(buffer, format="PNG", compress_level=6)
    elif image_format == "jpg":
        Image.fromarray(array, mode="RGB").save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    return buffer.getvalue()


def encode_sample(
    uid: str,
    points: np.ndarray,
    views: list[np.ndarray],
    meta: dict[str, Any],
    image_format: ImageFormat = "png",
    *,
    jpeg_quality: int = 95,
) -> dict[str, bytes]:
    """Encode one sample into its tar members (without the ``<uid>.`` prefix).

    Args:
        uid: The sample key; only ``[A-Za-z0-9_-]``.
        points: N×3 or N×6 finite array (stored as float32).
        views: H×W×3 uint8 RGB images, stored as ``view00.<fmt>``, ``view01.<fmt>``, ….
        meta: JSON-compatible metadata (class name, label, source, camera poses, renderer settings); ``uid`` and
            the CRC-32 of every member (``crc32``) are added to it.
        image_format: ``"png"`` (lossless) or ``"jpg"``.
        jpeg_quality: JPEG quality when ``image_format == "jpg"``.

    Returns:
        ``{"points.npy": ..., "view00.png": ..., "json": ...}``.

    Raises:
        ValueError: The uid contains characters outside ``[A-Za-z0-9_-]``, or points/views have the wrong shape.
    """
    if not _UID.match(uid):
        raise ValueError(f"uid {uid!r} may only contain [A-Za-z0-9_-] (it is a WebDataset key); use items.make_uid")
    array = np.asarray(points, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] not in (3, 6) or not np.isfinite(array).all():
        raise ValueError(f"points of {uid!r} must be a finite N×3 or N×6 array, got shape {array.shape}")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    files: dict[str, bytes] = {"points.npy": buffer.getvalue()}
    ext = "png" if image_format == "png" else "jpg"
    for i, view in enumerate(views):
        files[f"view{i:02d}.{ext}"] = _encode_image(view, image_format, jpeg_quality)
    checksums = {name: _crc32(data) for name, data in files.items()}
    record = {**meta, "uid": uid, CHECKSUM_KEY: checksums}
    files["json"] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return files


def _crc32(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


def check_member(meta: Mapping[str, Any], name: str, data: bytes, *, where: str) -> None:
    """Compare a member's bytes with the CRC-32 its sample's json records (samples written before checksums were
    recorded have none, and pass).

    Raises:
        ShardCorruptError: the bytes differ from what was written; the message names ``where`` and the member.
    """
    checksums = meta.get(CHECKSUM_KEY)
    expected = checksums.get(name) if isinstance(checksums, dict) else None
    if expected is not None and _crc32(data) != expected:
        raise ShardCorruptError(f"{where}: member {name!r} is damaged (its CRC-32 differs from the recorded one)")


@dataclass
class DecodedSample:
    """A sample read back from a shard.

    Attributes:
        uid: The sample key.
        points: N×3 or N×6 float32 array (validated finite).
        views: Encoded images in view order; decode one with :func:`decode_view` when needed.
        meta: The sample's json.
    """

    uid: str
    points: np.ndarray
    views: list[bytes] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def decode_sample(files: Mapping[str, bytes | str], *, source: str) -> DecodedSample:
    """Decode and validate one sample.

    Args:
        files: Member suffix → bytes (``"points.npy"``, ``"view00.png"``, ``"json"``), optionally with
            ``"__key__"`` (as WebDataset yields it). Keys prefixed with the uid (``"<uid>.json"``) are not accepted.
        source: Where the sample came from (shard path), used in error messages.

    Every member given is compared with the CRC-32 the json records for it (:func:`check_member`).

    Raises:
        ShardCorruptError: A member is missing, invalid or damaged; the message names ``source``, the key and the
            member.
    """
    key = files.get("__key__")
    where = f"{source}: sample {_as_bytes(key).decode('utf-8', 'replace')!r}" if key is not None else source
    if "json" not in files:
        raise ShardCorruptError(f"{where}: member 'json' is missing (members: {sorted(files)})")
    try:
        meta = json.loads(_as_bytes(files["json"]))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ShardCorruptError(f"{where}: member 'json' is not valid JSON ({error})") from error
    if not isinstance(meta, dict):
        raise ShardCorruptError(f"{where}: member 'json' must hold an object")
    uid = str(meta.get("uid", _as_bytes(key).decode("utf-8", "replace") if key is not None else ""))
    where = f"{source}: sample {uid!r}"
    if "points.npy" not in files:
        raise ShardCorruptError(f"{where}: member 'points.npy' is missing (members: {sorted(files)})")
    for name, value in files.items():
        if name != "json" and not name.startswith("__"):
            check_member(meta, name, _as_bytes(value), where=where)
    try:
        points = np.load(io.BytesIO(_as_bytes(files["points.npy"])), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ShardCorruptError(f"{where}: member 'points.npy' cannot be read ({error})") from error
    if points.ndim != 2 or points.shape[1] not in (3, 6) or not np.issubdtype(points.dtype, np.floating):
        raise ShardCorruptError(
            f"{where}: member 'points.npy' must be a float N×3 or N×6 array, got {points.dtype} {points.shape}"
        )
    if not np.isfinite(points).all():
        raise ShardCorruptError(f"{where}: member 'points.npy' contains NaN or infinite values")
    views: list[tuple[int, bytes]] = []
    for name, value in files.items():
        match = _VIEW_KEY.match(name)
        if match:
            views.append((int(match.group(1)), _as_bytes(value)))
    views.sort(key=lambda pair: pair[0])
    if [i for i, _ in views] != list(range(len(views))):
        raise ShardCorruptError(f"{where}: views are not numbered consecutively from view00: {[i for i, _ in views]}")
    return DecodedSample(uid=uid, points=points.astype(np.float32, copy=False), views=[v for _, v in views], meta=meta)


def decode_view(data: bytes, *, source: str = "view") -> Image.Image:
    """Decode one encoded view into an RGB ``PIL.Image``.

    Raises:
        ShardCorruptError: The bytes are not a readable image; the message names ``source``.
    """
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image.convert("RGB") if image.mode != "RGB" else image
    except Exception as error:  # damaged bytes surface as OSError, SyntaxError, ValueError or a decoder's own error
        raise ShardCorruptError(f"{source}: image cannot be decoded ({error})") from error


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ShardInfo:
    """A finished shard: its path, sample count and sha256."""

    path: Path
    num_samples: int
    sha256: str


class ShardWriter:
    """Write one shard to ``<path>.tmp`` and rename it to ``<path>`` on :meth:`close`.

    A shard that exists under its final name is therefore always complete. Used as a context manager, an
    exception inside the block removes the temporary file instead of renaming it.

    Example:
        >>> with ShardWriter(out / "train-000000.tar") as writer:
        ...     writer.write(uid, encode_sample(uid, points, views, meta))
        >>> writer.info.sha256
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tar: tarfile.TarFile | None = tarfile.open(  # noqa: SIM115 - closed in close()/abort()
            self.tmp_path, "w", format=tarfile.PAX_FORMAT
        )
        self._keys: set[str] = set()
        self.info: ShardInfo | None = None

    @property
    def num_samples(self) -> int:
        """Samples written so far."""
        return len(self._keys)

    def write(self, uid: str, files: Mapping[str, bytes]) -> None:
        """Append one sample (members as returned by :func:`encode_sample`)."""
        if self._tar is None:
            raise RuntimeError(f"{self.path}: the writer is closed")
        if not _UID.match(uid):
            raise ValueError(f"uid {uid!r} may only contain [A-Za-z0-9_-]")
        if uid in self._keys:
            raise ValueError(f"{self.path}: duplicate sample key {uid!r}")
        self._keys.add(uid)
        for suffix, data in files.items():
            if suffix.startswith("__"):
                continue
            member = tarfile.TarInfo(f"{uid}.{suffix}")
            member.size = len(data)
            member.mtime = 0
            member.mode = 0o644
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            self._tar.addfile(member, io.BytesIO(data))

    def close(self, before_rename: Callable[[ShardInfo], None] | None = None) -> ShardInfo:
        """Finish the tar, rename it to its final name and return its :class:`ShardInfo`.

        Args:
            before_rename: Called with the finished shard's info while it still has its temporary name (for
                example to write a sidecar record), so that the final name appears last. If it raises, the
                temporary file is removed.
        """
        if self.info is not None:
            return self.info
        if self._tar is None:
            raise RuntimeError(f"{self.path}: the writer was aborted")
        self._tar.close()
        self._tar = None
        try:
            with open(self.tmp_path, "rb+") as handle:
                os.fsync(handle.fileno())
            info = ShardInfo(self.path, len(self._keys), file_sha256(self.tmp_path))
            if before_rename is not None:
                before_rename(info)
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.tmp_path.unlink(missing_ok=True)
            raise
        self.info = info
        return info

    def abort(self) -> None:
        """Discard the temporary file (nothing is left under the final name)."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _split_member(name: str) -> tuple[str, str]:
    base = name.rsplit("/", 1)[-1]
    key, dot, suffix = base.partition(".")
    return key, suffix if dot else ""


def _check_end_of_archive(path: Path, offset: int) -> None:
    """Tar iteration stops silently when a file is cut at a header boundary; the end marker tells them apart."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        marker = handle.read(2 * tarfile.BLOCKSIZE)
    if len(marker) < 2 * tarfile.BLOCKSIZE or marker.strip(b"\0"):
        raise ShardCorruptError(f"{path}: shard is truncated (no end-of-archive marker after byte {offset})")


def iter_shard_files(path: str | os.PathLike[str]) -> Iterator[dict[str, bytes]]:
    """Yield the raw members of each sample of a shard, grouped by key, with ``"__key__"`` set (as bytes).

    Raises:
        ShardCorruptError: The tar is truncated or unreadable; the message names the file.
    """
    path = Path(path)
    current: dict[str, bytes] = {}
    current_key: str | None = None
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, suffix = _split_member(member.name)
                if key != current_key:
                    if current_key is not None:
                        yield current
                    current_key = key
                    current = {"__key__": key.encode("utf-8")}
                handle = tar.extractfile(member)
                if handle is None:
                    raise ShardCorruptError(f"{path}: member {member.name!r} cannot be read")
                data = handle.read()
                if len(data) != member.size:
                    raise ShardCorruptError(f"{path}: member {member.name!r} is truncated")
                current[suffix] = data
            _check_end_of_archive(path, tar.offset)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ShardCorruptError(f"{path}: shard is truncated or not a tar file ({error})") from error
    if current_key is not None:
        yield current


def iter_shard(path: str | os.PathLike[str]) -> Iterator[DecodedSample]:
    """Yield every sample of a shard, decoded and validated (views stay encoded).

    Raises:
        ShardCorruptError: The shard is truncated or a sample is invalid; the message names the file and key.
    """
    for files in iter_shard_files(path):
        yield decode_sample(files, source=str(path))


@dataclass(frozen=True)
class SampleIndex:
    """Where the members of one sample lie inside a shard: suffix → (data offset, size) in bytes."""

    key: str
    members: dict[str, tuple[int, int]]


def index_shard(path: str | os.PathLike[str]) -> list[SampleIndex]:
    """Index a shard once (member offsets) for random access with :func:`read_indexed_sample`.

    Raises:
        ShardCorruptError: The tar is truncated or unreadable; the message names the file.
    """
    path = Path(path)
    samples: list[SampleIndex] = []
    size = path.stat().st_size
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if member.offset_data + member.size > size:
                    raise ShardCorruptError(f"{path}: member {member.name!r} is truncated")
                key, suffix = _split_member(member.name)
                if not samples or samples[-1].key != key:
                    samples.append(SampleIndex(key, {}))
                samples[-1].members[suffix] = (member.offset_data, member.size)
            _check_end_of_archive(path, tar.offset)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ShardCorruptError(f"{path}: shard is truncated or not a tar file ({error})") from error
    return samples


def read_indexed_sample(path: str | os.PathLike[str], index: SampleIndex) -> DecodedSample:
    """Read and decode one sample located by :func:`index_shard`."""
    files: dict[str, bytes | str] = {"__key__": index.key}
    with open(path, "rb") as handle:
        for suffix, (offset, size) in index.members.items():
            handle.seek(offset)
            files[suffix] = handle.read(size)
    return decode_sample(files, source=str(path))
