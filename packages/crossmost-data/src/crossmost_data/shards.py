"""Deprecated: the sample format moved to :mod:`crossmost_data.format` (codec, writer, reader); this alias, the
``ShardWriter`` name (now :class:`~crossmost_data.format.AtomicTarWriter`) and the test-only random access
(``index_shard``, ``read_indexed_sample``: use :func:`~crossmost_data.format.scan_shard`) go in the next release."""

from __future__ import annotations

import os
from dataclasses import dataclass

from crossmost_data._moved import warn_moved
from crossmost_data.format.codec import (
    CHECKSUM_KEY,
    DecodedSample,
    ShardCorruptError,
    check_member,
    decode_sample,
    decode_view,
    encode_sample,
)
from crossmost_data.format.reader import index_members, iter_shard, iter_shard_files, read_span
from crossmost_data.format.writer import AtomicTarWriter, ShardInfo, file_sha256, shard_name

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

warn_moved(__name__, "crossmost_data.format")

ShardWriter = AtomicTarWriter


@dataclass(frozen=True)
class SampleIndex:
    """Where the members of one sample lie inside a shard: suffix → (data offset, size) in bytes."""

    key: str
    members: dict[str, tuple[int, int]]


def index_shard(path: str | os.PathLike[str]) -> list[SampleIndex]:
    """Member offsets of every sample of a shard (strict: a damaged shard raises :class:`ShardCorruptError`)."""
    groups, problem = index_members(path)
    if problem is not None:
        raise ShardCorruptError(f"{path}: shard is {problem}")
    return [SampleIndex(group.key, group.members) for group in groups]


def read_indexed_sample(path: str | os.PathLike[str], index: SampleIndex) -> DecodedSample:
    """Read and decode one sample located by :func:`index_shard`."""
    files: dict[str, bytes | str] = {"__key__": index.key}
    with open(path, "rb") as handle:
        for suffix, span in index.members.items():
            files[suffix] = read_span(handle.fileno(), span)
    return decode_sample(files, source=str(path))
