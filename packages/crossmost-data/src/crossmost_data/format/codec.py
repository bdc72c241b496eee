"""The sample codec of the data contract (DESIGN.md §2): one sample to and from its tar members.

A sample is the members ``<uid>.points.npy``, ``<uid>.view00.png`` … ``<uid>.viewKK.png`` (or ``.jpg``) and
``<uid>.json``. The json member records a CRC-32 of every other member (``"crc32": {"points.npy": "1a2b3c4d", ...}``),
so a reader detects flipped bytes in the cloud or a view when it reads them, at the cost of one ``zlib.crc32`` pass
(a few tens of microseconds for a sample), without hashing the whole shard.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CHECKSUM_KEY",
    "VIEW_MEMBER",
    "DecodedSample",
    "ImageFormat",
    "ShardCorruptError",
    "check_member",
    "check_uid",
    "decode_sample",
    "decode_view",
    "encode_sample",
]

ImageFormat = Literal["png", "jpg"]
CHECKSUM_KEY = "crc32"
"""Key of the json member that maps every other member's suffix to the hex CRC-32 of its bytes."""
VIEW_MEMBER = re.compile(r"^view(\d+)\.(png|jpg|jpeg)$")
"""The member suffix of a view (``view00.png``, ``view11.jpg``); group 1 is its index."""
_UID = re.compile(r"^[A-Za-z0-9_-]+$")


class ShardCorruptError(ValueError):
    """A shard or a sample in it cannot be read; the message names the shard file and the sample key."""


def check_uid(uid: str) -> None:
    """Refuse a sample key outside ``[A-Za-z0-9_-]`` (a WebDataset key has no dots).

    Raises:
        ValueError: the key has another character; the message names it.
    """
    if not _UID.match(uid):
        raise ValueError(f"uid {uid!r} may only contain [A-Za-z0-9_-] (it is a WebDataset key); use items.make_uid")


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
    check_uid(uid)
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
        match = VIEW_MEMBER.match(name)
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
