"""crossmost-data: prepare 3D datasets into image+point WebDataset shards, and read them back.

The package follows the data contract: :mod:`crossmost_data.format` (the sample codec, the manifest, the tar writer
and reader), :mod:`crossmost_data.prepare` (raw dataset in, shards out), :mod:`crossmost_data.datasets` (the
readers), :mod:`crossmost_data.views` (rendered and depth views) and :mod:`crossmost_data.loader` (training and
evaluation loaders: the ``torch`` extra). The names below need none of the extras.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crossmost-data")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0"

from crossmost_data.format import (
    DecodedSample,
    Manifest,
    ManifestError,
    ShardCorruptError,
    ShardEntry,
    SkippedItem,
    decode_sample,
    decode_view,
    encode_sample,
)
from crossmost_data.items import BadItemError, LoadedItem, SourceItem, make_uid
from crossmost_data.prepare import PrepareConfig, PrepareError, PrepareSummary, prepare_dataset

__all__ = [
    "BadItemError",
    "DecodedSample",
    "LoadedItem",
    "Manifest",
    "ManifestError",
    "PrepareConfig",
    "PrepareError",
    "PrepareSummary",
    "ShardCorruptError",
    "ShardEntry",
    "SkippedItem",
    "SourceItem",
    "__version__",
    "decode_sample",
    "decode_view",
    "encode_sample",
    "make_uid",
    "prepare_dataset",
]
