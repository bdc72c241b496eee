"""The data contract on disk (DESIGN.md §2): the sample codec, the manifest, the tar writer and the one tar reader.

A prepared dataset is a folder with ``manifest.json`` and ``<split>-NNNNNN.tar`` shards; each sample is the members
``<uid>.points.npy``, ``<uid>.viewKK.<png|jpg>`` and ``<uid>.json``. Everything here needs numpy and pillow only.
"""

from crossmost_data.format.codec import CHECKSUM_KEY as CHECKSUM_KEY
from crossmost_data.format.codec import DecodedSample as DecodedSample
from crossmost_data.format.codec import ImageFormat as ImageFormat
from crossmost_data.format.codec import ShardCorruptError as ShardCorruptError
from crossmost_data.format.codec import check_member as check_member
from crossmost_data.format.codec import check_uid as check_uid
from crossmost_data.format.codec import decode_sample as decode_sample
from crossmost_data.format.codec import decode_view as decode_view
from crossmost_data.format.codec import encode_sample as encode_sample
from crossmost_data.format.manifest import MANIFEST_NAME as MANIFEST_NAME
from crossmost_data.format.manifest import Manifest as Manifest
from crossmost_data.format.manifest import ManifestError as ManifestError
from crossmost_data.format.manifest import ShardEntry as ShardEntry
from crossmost_data.format.manifest import SkippedItem as SkippedItem
from crossmost_data.format.reader import IndexedSample as IndexedSample
from crossmost_data.format.reader import MemberGroup as MemberGroup
from crossmost_data.format.reader import ShardScan as ShardScan
from crossmost_data.format.reader import index_members as index_members
from crossmost_data.format.reader import iter_shard as iter_shard
from crossmost_data.format.reader import iter_shard_files as iter_shard_files
from crossmost_data.format.reader import read_span as read_span
from crossmost_data.format.reader import scan_shard as scan_shard
from crossmost_data.format.writer import AtomicTarWriter as AtomicTarWriter
from crossmost_data.format.writer import ShardInfo as ShardInfo
from crossmost_data.format.writer import file_sha256 as file_sha256
from crossmost_data.format.writer import shard_name as shard_name

__all__ = [
    "CHECKSUM_KEY",
    "MANIFEST_NAME",
    "AtomicTarWriter",
    "DecodedSample",
    "ImageFormat",
    "IndexedSample",
    "Manifest",
    "ManifestError",
    "MemberGroup",
    "ShardCorruptError",
    "ShardEntry",
    "ShardInfo",
    "ShardScan",
    "SkippedItem",
    "check_member",
    "check_uid",
    "decode_sample",
    "decode_view",
    "encode_sample",
    "file_sha256",
    "index_members",
    "iter_shard",
    "iter_shard_files",
    "read_span",
    "scan_shard",
    "shard_name",
]
