"""crossmost-data: prepare 3D datasets into image+point WebDataset shards, and read them back.

The light core is importable from here; readers (:mod:`crossmost_data.datasets`), rendering
(:mod:`crossmost_data.views`), depth projection (:mod:`crossmost_data.views.depth`) and the training loaders
(:mod:`crossmost_data.loader`) are imported from their modules.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crossmost-data")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0"

from crossmost_data.format import DecodedSample, ShardCorruptError, decode_sample, decode_view, encode_sample
from crossmost_data.format.manifest import Manifest, ManifestError, ShardEntry, SkippedItem
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
