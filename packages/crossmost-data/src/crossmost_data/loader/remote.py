"""Where a prepared dataset lives: a local folder or a URL that fsspec can open (``s3://``, ``gs://``, ``https://``,
``file://``, …), for the streaming loader.

fsspec reads every scheme through one interface and raises Python exceptions that name what failed, so a shard that
cannot be opened is skipped and listed like any other damage; the schemes beyond ``file`` come from fsspec's
plugins, installed by whoever needs them (``aiohttp`` for HTTP, through the ``stream`` extra; ``s3fs``, ``gcsfs``,
``adlfs`` for the object stores). webdataset's ``gopen`` was not used: it opens the remote schemes by running a
command (``curl``, ``gsutil``, …) in a subprocess, which needs those tools on every node and reports a failure as
the command's exit status rather than the error of the URL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from crossmost_data.format.manifest import MANIFEST_NAME, Manifest, ManifestError

__all__ = ["RemoteOpenError", "is_url", "join_location", "location_name", "open_location", "read_manifest"]


class RemoteOpenError(OSError):
    """A location cannot be opened for reading; the message names it and the reason."""


def is_url(location: str) -> bool:
    """Whether ``location`` names a URL (``scheme://…``) rather than a local path."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum()


def join_location(root: str, name: str) -> str:
    """``name`` inside the folder ``root`` (a local path or a URL)."""
    if is_url(root):
        return root.rstrip("/") + "/" + name
    return str(Path(root) / name)


def location_name(location: str) -> str:
    """The last component of a folder's path or URL (``s3://bucket/sets/modelnet40/`` → ``modelnet40``)."""
    return location.rstrip("/").rsplit("/", 1)[-1]


def open_location(location: str) -> IO[bytes]:
    """Open a local file or a URL for sequential reading (the caller closes it).

    Raises:
        RemoteOpenError: The file is missing, the URL cannot be reached, or no fsspec filesystem handles its scheme
            (the message names the location and says which package provides the scheme when fsspec knows it).
    """
    if not is_url(location):
        try:
            return open(location, "rb")
        except OSError as error:
            raise RemoteOpenError(f"{location} cannot be opened ({error.strerror or error})") from error
    import fsspec

    try:
        # HTTP(S): block_size=0 asks for one streamed response instead of range requests. The object stores keep
        # their buffered files, which read ahead in large blocks (a block size of 0 would make every read a request).
        options = {"block_size": 0} if location.split("://", 1)[0].lower() in ("http", "https") else {}
        handle: IO[bytes] = fsspec.open(location, "rb", **options).open()
    except ImportError as error:  # the scheme's filesystem package is not installed
        raise RemoteOpenError(f"{location} cannot be opened: {error}") from error
    except (OSError, ValueError, RuntimeError) as error:
        raise RemoteOpenError(f"{location} cannot be opened ({type(error).__name__}: {error})") from error
    except Exception as error:  # a filesystem's own error type (aiohttp's ClientError, botocore's, …)
        raise RemoteOpenError(f"{location} cannot be opened ({type(error).__name__}: {error})") from error
    return handle


def read_manifest(root: str) -> Manifest:
    """``manifest.json`` of the folder or URL ``root``.

    Raises:
        ManifestError: It cannot be opened, is not JSON, or is not a valid manifest; the message names its location.
    """
    if not is_url(root):
        return Manifest.read(root)
    location = join_location(root, MANIFEST_NAME)
    try:
        with open_location(location) as handle:
            data = handle.read()
    except OSError as error:
        raise ManifestError(f"{error}; is {root} the folder of a prepared dataset?") from None
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(f"{location}: not valid JSON ({error})") from None
    return Manifest.from_dict(parsed, source=location)
