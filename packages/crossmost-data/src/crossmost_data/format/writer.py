"""Writing one shard: a tar of samples with fixed member metadata, renamed into place when complete.

Members are written with fixed metadata (mtime 0, owner 0, mode 0644) so that preparing the same items twice gives
byte-identical shards, in any process.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from crossmost_data.format.codec import check_uid

__all__ = ["AtomicTarWriter", "ShardInfo", "file_sha256", "shard_name"]


def shard_name(split: str, index: int) -> str:
    """The file name of shard ``index`` of ``split``, e.g. ``shard_name("train", 3) == "train-000003.tar"``."""
    return f"{split}-{index:06d}.tar"


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


class AtomicTarWriter:
    """Write one shard to ``<path>.tmp`` and rename it to ``<path>`` on :meth:`close`.

    A shard that exists under its final name is therefore always complete. Used as a context manager, an
    exception inside the block removes the temporary file instead of renaming it.

    Example:
        >>> with AtomicTarWriter(out / "train-000000.tar") as writer:
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
        check_uid(uid)
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

    def __enter__(self) -> AtomicTarWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
