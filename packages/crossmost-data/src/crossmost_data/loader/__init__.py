"""Training and evaluation loaders over prepared shards: datasets, samplers and augmentations (the ``torch`` extra).

``crossmost-train`` opens the folder once (:class:`PreparedData`: one read of ``manifest.json``), builds the
datasets of its splits from it, and batches them with :func:`build_train_loader` (a :class:`GlobalBatchSampler`:
the same global batches for any number of processes and accumulation steps, resumable mid-epoch) and
:func:`build_eval_loader` (a :class:`ShardedEvalSampler`: every sample on exactly one process)::

    config = LoaderConfig(root, seed=seed, num_workers=2)
    data = PreparedData(config)
    dataset = data.dataset("train", mode="train", num_points=8192, augment=AugmentConfig(...))
    loader, sampler = build_train_loader(dataset, config, batch_size=32, grad_accum_steps=2,
                                         num_replicas=world, rank=rank)
    for epoch in ...:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        for batch in loader: ...

With ``LoaderConfig(root, streaming=True)`` the same calls stream the shards instead
(:class:`StreamingShardDataset`: ``root`` may be a URL such as ``s3://bucket/data``; the "sampler" returned is a
:class:`StreamingEpochs` with the same ``set_epoch(epoch, start_batch)``), for corpora larger than one disk.

:func:`build_dataloader` is a shortcut for loops of one's own: ``DistributedSampler`` order for training (padded
to equal lengths unless ``drop_last``), :class:`ShardedEvalSampler` for distributed evaluation, and
:func:`set_loader_epoch` to move sampler and dataset to the next epoch.
"""

from crossmost_data.loader import _torch_extra as _torch_extra  # first: a missing extra is named, not a traceback
from crossmost_data.loader.config import CLIP_MEAN as CLIP_MEAN
from crossmost_data.loader.config import CLIP_STD as CLIP_STD
from crossmost_data.loader.config import AugmentConfig as AugmentConfig
from crossmost_data.loader.config import ImageAugmentConfig as ImageAugmentConfig
from crossmost_data.loader.config import MaskConfig as MaskConfig
from crossmost_data.loader.config import PointAugmentConfig as PointAugmentConfig
from crossmost_data.loader.dataloader import build_dataloader as build_dataloader
from crossmost_data.loader.dataloader import build_eval_loader as build_eval_loader
from crossmost_data.loader.dataloader import build_train_loader as build_train_loader
from crossmost_data.loader.dataloader import seed_worker as seed_worker
from crossmost_data.loader.dataloader import set_loader_epoch as set_loader_epoch
from crossmost_data.loader.dataset import ShardDataset as ShardDataset
from crossmost_data.loader.dataset import SkippedSamples as SkippedSamples
from crossmost_data.loader.image_transforms import EvalImageTransform as EvalImageTransform
from crossmost_data.loader.image_transforms import StrongImageTransform as StrongImageTransform
from crossmost_data.loader.image_transforms import WeakImageTransform as WeakImageTransform
from crossmost_data.loader.masks import ImageBlockMaskGenerator as ImageBlockMaskGenerator
from crossmost_data.loader.point_transforms import StrongPointTransform as StrongPointTransform
from crossmost_data.loader.point_transforms import WeakPointTransform as WeakPointTransform
from crossmost_data.loader.prepared import LoaderConfig as LoaderConfig
from crossmost_data.loader.prepared import PreparedData as PreparedData
from crossmost_data.loader.prepared import PreparedDataError as PreparedDataError
from crossmost_data.loader.sample import EVAL_KEYS as EVAL_KEYS
from crossmost_data.loader.sample import TRAIN_KEYS as TRAIN_KEYS
from crossmost_data.loader.sample import Sample as Sample
from crossmost_data.loader.sample import SampleBuilder as SampleBuilder
from crossmost_data.loader.samplers import GlobalBatchSampler as GlobalBatchSampler
from crossmost_data.loader.samplers import ShardedEvalSampler as ShardedEvalSampler
from crossmost_data.loader.streaming import StreamingEpochs as StreamingEpochs
from crossmost_data.loader.streaming import StreamingShardDataset as StreamingShardDataset
from crossmost_data.loader.view_policy import ViewPolicy as ViewPolicy

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "EVAL_KEYS",
    "TRAIN_KEYS",
    "AugmentConfig",
    "EvalImageTransform",
    "GlobalBatchSampler",
    "ImageAugmentConfig",
    "ImageBlockMaskGenerator",
    "LoaderConfig",
    "MaskConfig",
    "PointAugmentConfig",
    "PreparedData",
    "PreparedDataError",
    "Sample",
    "SampleBuilder",
    "ShardDataset",
    "ShardedEvalSampler",
    "SkippedSamples",
    "StreamingEpochs",
    "StreamingShardDataset",
    "StrongImageTransform",
    "StrongPointTransform",
    "ViewPolicy",
    "WeakImageTransform",
    "WeakPointTransform",
    "build_dataloader",
    "build_eval_loader",
    "build_train_loader",
    "seed_worker",
    "set_loader_epoch",
]


def __getattr__(name: str) -> object:
    # Names that moved, kept for one release.
    if name == "normalize_unit_sphere":
        import warnings

        from crossmost_data.points import recentre_in_unit_sphere

        warnings.warn(
            "crossmost_data.loader.normalize_unit_sphere is crossmost_data.points.recentre_in_unit_sphere; import it "
            "from there (the old name will be removed in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return recentre_in_unit_sphere
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
