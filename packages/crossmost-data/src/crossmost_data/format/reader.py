"""The one tar reader: a scan of the member headers gives the byte span of every member, read with ``pread``.

Both ways of reading a shard start from that scan. :func:`scan_shard` salvages what it can for the loaders: when a
shard is truncated or a sample lacks members, the complete samples are kept and the rest are listed, so a loader skips
exactly the damaged samples and reports them by name (scans are cached per process, keyed by path, size and
modification time). :func:`iter_shard` is strict for the commands (``verify``, ``inspect``): it yields the samples
read before any damage and then raises :class:`ShardCorruptError` naming the file.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crossmost_data.format.codec import VIEW_MEMBER, DecodedSample, ShardCorruptError, decode_sample

__all__ = [
    "IndexedSample",
    "MemberGroup",
    "ShardScan",
    "index_members",
    "iter_shard",
    "iter_shard_files",
    "read_span",
    "scan_shard",
]

_CACHE: dict[tuple[str, int, int, int], ShardScan] = {}

Span = tuple[int, int]
"""(byte offset of the member data, size in bytes)."""


@dataclass(frozen=True)
class IndexedSample:
    """The member spans of one complete sample (``view_names``: the member suffix of each view, e.g.
    ``"view00.png"``)."""

    key: str
    points: Span
    json: Span
    views: tuple[Span, ...]
    view_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShardScan:
    """The result of scanning one shard.

    Attributes:
        path: The shard file.
        samples: Complete samples, in file order.
        incomplete: Keys of samples that are present but miss members or data (in file order).
        problem: Why the shard is not whole (truncated, unreadable), or ``None``.
    """

    path: str
    samples: tuple[IndexedSample, ...]
    incomplete: tuple[str, ...]
    problem: str | None


def _complete(key: str, members: dict[str, Span], num_views: int) -> IndexedSample | None:
    views: dict[int, str] = {}
    for suffix in members:
        match = VIEW_MEMBER.match(suffix)
        if match:
            views[int(match.group(1))] = suffix
    if "points.npy" not in members or "json" not in members or any(i not in views for i in range(num_views)):
        return None
    names = tuple(views[i] for i in range(num_views))
    return IndexedSample(key, members["points.npy"], members["json"], tuple(members[n] for n in names), names)


@dataclass(frozen=True)
class MemberGroup:
    """The members of one sample key, in file order: suffix (``"points.npy"``, ``"view00.png"``, ``"json"``) → span."""

    key: str
    members: dict[str, Span]


def index_members(path: str | os.PathLike[str]) -> tuple[list[MemberGroup], str | None]:
    """One pass over the tar headers: the members grouped by sample key, and why the shard is not whole (or ``None``).

    When a member's data is cut off, its sample is the last group (so it is counted as lost).

    Raises:
        OSError: the file cannot be opened.
    """
    path = Path(path)
    size = path.stat().st_size
    groups: list[MemberGroup] = []
    problem: str | None = None
    try:
        with tarfile.open(path, "r:") as tar:
            while True:
                try:
                    member = tar.next()
                except (tarfile.TarError, EOFError, OSError) as error:
                    problem = f"truncated or damaged tar header after byte {tar.offset} ({error})"
                    break
                if member is None:
                    with open(path, "rb") as handle:
                        handle.seek(tar.offset)
                        marker = handle.read(2 * tarfile.BLOCKSIZE)
                    if len(marker) < 2 * tarfile.BLOCKSIZE or marker.strip(b"\0"):
                        problem = (
                            f"truncated or damaged: no valid tar header or end-of-archive marker at byte {tar.offset}"
                        )
                    break
                if not member.isfile():
                    continue
                base = member.name.rsplit("/", 1)[-1]
                key, _, suffix = base.partition(".")
                if not groups or groups[-1].key != key:
                    groups.append(MemberGroup(key, {}))
                if member.offset_data + member.size > size:
                    problem = f"truncated inside member {member.name!r} (file has {size} bytes)"
                    break
                groups[-1].members[suffix] = (member.offset_data, member.size)
    except (tarfile.TarError, EOFError, OSError) as error:
        return [], f"not a readable tar file ({error})"
    return groups, problem


def _scan(path: Path, num_views: int) -> ShardScan:
    groups, problem = index_members(path)
    samples: list[IndexedSample] = []
    incomplete: list[str] = []
    for group in groups:
        sample = _complete(group.key, group.members, num_views)
        if sample is None:
            incomplete.append(group.key)
        else:
            samples.append(sample)
    return ShardScan(str(path), tuple(samples), tuple(incomplete), problem)


def scan_shard(path: str | os.PathLike[str], num_views: int) -> ShardScan:
    """Index a shard's members (cached per process by path, size, mtime and ``num_views``).

    Args:
        path: The tar shard.
        num_views: Views a complete sample must have (``view00`` … ``view{num_views-1}``).

    Returns:
        The complete samples, the keys of incomplete ones and the shard-level problem if any. A missing file gives
        a scan with no samples and the problem ``"file is missing"``.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ShardScan(str(path), (), (), "file is missing")
    cache_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, num_views)
    scan = _CACHE.get(cache_key)
    if scan is None:
        scan = _scan(path, num_views)
        _CACHE[cache_key] = scan
    return scan


def read_span(fd: int, span: Span) -> bytes:
    """Read one member's bytes with ``os.pread`` (no shared file position: safe across threads and forks)."""
    offset, size = span
    if hasattr(os, "pread"):
        data = os.pread(fd, size, offset)
    else:  # Windows: no pread; loader workers are processes, so the shared position is not contended
        os.lseek(fd, offset, os.SEEK_SET)
        data = os.read(fd, size)
    if len(data) != size:
        raise OSError(f"short read: {len(data)} of {size} bytes at offset {offset}")
    return data


def iter_shard_files(path: str | os.PathLike[str]) -> Iterator[dict[str, bytes]]:
    """Yield the raw members of each sample of a shard, grouped by key, with ``"__key__"`` set (as bytes).

    Raises:
        ShardCorruptError: The tar is truncated or unreadable (after the samples before the damage were yielded); the
            message names the file.
    """
    path = Path(path)
    try:
        groups, problem = index_members(path)
    except OSError as error:
        raise ShardCorruptError(f"{path}: shard cannot be read ({error})") from error
    whole = groups if problem is None else groups[:-1]
    if whole:
        with open(path, "rb") as handle:
            for group in whole:
                files = {"__key__": group.key.encode("utf-8")}
                for suffix, span in group.members.items():
                    files[suffix] = read_span(handle.fileno(), span)
                yield files
    if problem is not None:
        raise ShardCorruptError(f"{path}: shard is {problem}")


def iter_shard(path: str | os.PathLike[str]) -> Iterator[DecodedSample]:
    """Yield every sample of a shard, decoded and validated (views stay encoded).

    Raises:
        ShardCorruptError: The shard is truncated or a sample is invalid; the message names the file and key.
    """
    for files in iter_shard_files(path):
        yield decode_sample(files, source=str(path))
