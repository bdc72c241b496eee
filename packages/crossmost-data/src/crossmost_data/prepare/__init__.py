"""Preparation: a raw dataset in (through a reader), WebDataset shards and ``manifest.json`` out.

- :mod:`~crossmost_data.prepare.config`: :class:`PrepareConfig`, what a run makes and how;
- :mod:`~crossmost_data.prepare.plan`: which item goes to which shard (deterministic, resumable);
- :mod:`~crossmost_data.prepare.worker`: the pure per-item step (load, sample points, make views, encode);
- :mod:`~crossmost_data.prepare.shard_task`: one shard as one unit of work (what both executors run);
- :mod:`~crossmost_data.prepare.pipeline`: :func:`prepare_dataset`, the process pool that runs the plan (the local
  executor);
- :mod:`~crossmost_data.prepare.ray_executor`: the plan as one Ray task per shard (``executor="ray"``, the ``ray``
  extra);
- :mod:`~crossmost_data.prepare.recipe`: one file through the same per-item step, with a prepared dataset's settings
  (what ``crossmost-train predict`` calls).
"""

from crossmost_data.prepare.config import PrepareConfig as PrepareConfig
from crossmost_data.prepare.pipeline import PrepareError as PrepareError
from crossmost_data.prepare.pipeline import PrepareSummary as PrepareSummary
from crossmost_data.prepare.pipeline import ReaderLike as ReaderLike
from crossmost_data.prepare.pipeline import prepare_dataset as prepare_dataset
from crossmost_data.prepare.worker import ItemProcessingError as ItemProcessingError

__all__ = ["ItemProcessingError", "PrepareConfig", "PrepareError", "PrepareSummary", "ReaderLike", "prepare_dataset"]
