"""How the demo is made: the synthetic benchmark, how its pre-trained towers are trained, and how long each run is.

Two parts, as in real use:

* a :class:`PretrainRecipe`: the classes, the broad 2D corpus the tiny CLIP towers learn from, the clean source
  domain the tiny Point-BERT is aligned on (ULIP-style) and the length and seed of both pre-trainings. The towers it
  makes ship with crossmost (:mod:`crossmost_train.demo.pretrained`), as real users start from released CLIP and
  ULIP weights; ``crossmost-train demo --from-scratch`` makes them again from this recipe.
* a :class:`DemoScale`: the unlabelled target domain (and the control target of ``--ablations``) and the length of
  every self-training run, for the default demo and ``--quick``.

The training hyper-parameters live in the ``demo*`` YAML presets (``demo-pretrain-clip``, ``demo-pretrain-ulip``,
``demo`` and ``demo-baseline``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = [
    "DEFAULT_SCALE",
    "DEMO_CLASSES",
    "QUICK_SCALE",
    "RECIPE",
    "TARGET_SEED",
    "VALIDATION_SEED",
    "DemoScale",
    "DomainSpec",
    "PretrainRecipe",
    "ema_warmup_steps",
]

PAPER_EMA_WARMUP_FRACTION = 400 / 3800
"""The paper's EMA ramp (400 steps) as a share of its ModelNet40 schedule (200 epochs × 19 steps ≈ 3.8k steps)."""


def ema_warmup_steps(total_steps: int) -> int:
    """EMA momentum ramp for a schedule of ``total_steps``: the paper's 400 of ~3.8k steps, i.e. ~10.5 %."""
    return max(1, round(total_steps * PAPER_EMA_WARMUP_FRACTION))


@dataclass(frozen=True)
class DomainSpec:
    """One domain of the synthetic benchmark, as ``crossmost-data synth`` options.

    Attributes:
        domain: ``corpus`` (the 2D corpus: every view in a random look), ``source`` (clean coloured meshes,
            rendered views, surface points) or ``target`` (scans with their own views).
        objects_per_class: Objects per class over both splits (the last ``test_fraction`` are the test split).
        options: Other reader options (``partiality``, ``noise``, ``clutter``, ``target_views``, ``view_shift``,
            ``test_fraction`` …).
        seed: Seed of its procedural objects; ``None`` takes the recipe's ``data_seed``. The demo's target has a
            seed of its own, never used while the benchmark was designed (see ``TARGET_SEED``).
    """

    domain: str
    objects_per_class: int
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None


DEMO_CLASSES: tuple[str, ...] = (
    "airplane", "bookshelf", "chair", "guitar", "lamp", "table",
    "basketball", "soccer_ball", "dice", "gift_box", "barrel", "crate", "bucket", "bin",
)  # fmt: skip
"""The demo's fourteen classes: six of distinct shapes, and eight made in pairs whose confusions differ by modality
(:mod:`crossmost_data.datasets.synthetic.paired_classes`): basketball/soccer_ball and dice/gift_box share a shape
and differ in look (the point branch cannot tell them apart), barrel/crate and bucket/bin share an outline from the
side and differ in cross-section, round or square (which a camera near the horizon hardly sees). ``car`` and
``bed`` are left out: on the target both branches took them for airplanes (the validation world's zero-shot car
accuracy was 17 % for images and 12 % for points), so neither branch could teach the other there and self-training
only deepened the shared error."""


@dataclass(frozen=True)
class PretrainRecipe:
    """How the demo's pre-trained towers are made.

    Attributes:
        classes: The classes, in label order (the same in every domain).
        corpus: The broad 2D corpus of the CLIP pre-training.
        source: The clean source domain of the ULIP alignment (and of the "zero-shot on the source" row).
        views: Views per object in every domain.
        image_size: Stored view size in pixels.
        points: Points per object.
        data_seed: Seed of the procedural objects (the benchmark is one fixed dataset).
        clip_epochs: Epochs of CLIP pre-training on the corpus.
        ulip_epochs: Epochs of ULIP alignment of the point tower on the source.
        seed: Seed of both pre-trainings (weights, sampling, augmentations).
        shapes_version: The version of the benchmark's object generators
            (``crossmost_data.datasets.synthetic.SHAPES_VERSION``) the recipe is for; part of every key, so that data
            prepared and towers made from an earlier version's objects are never reused for the new ones.
    """

    classes: tuple[str, ...]
    corpus: DomainSpec
    source: DomainSpec
    views: int
    image_size: int
    points: int
    data_seed: int
    clip_epochs: float
    ulip_epochs: float
    seed: int
    shapes_version: int

    def data_key(self, domain: DomainSpec) -> str:
        """A short hash of everything that determines the prepared data of ``domain`` (the cache key)."""
        content = {
            "domain": asdict(domain),
            "classes": list(self.classes),
            "views": self.views,
            "image_size": self.image_size,
            "points": self.points,
            "seed": self.data_seed,
            "shapes_version": self.shapes_version,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:10]

    def key(self) -> str:
        """A short hash of the whole recipe (recorded with the shipped towers)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DemoScale:
    """The target domain and the run lengths of one demo variant.

    Attributes:
        name: ``default`` or ``quick``.
        recipe: How the pre-trained towers are made (shared by every variant).
        target: The target domain (unlabelled self-training data, labelled test split for evaluation).
        control: The control target of ``--ablations``: the same objects, but views that are depth projections of
            the scans themselves, so that the two modalities carry the same information.
        source_eval: The source-domain data of the "zero-shot on the source" row (its test split).
        selftrain_steps: Optimiser steps of each self-training run (baseline and Cross-MoST alike).
    """

    name: str
    recipe: PretrainRecipe
    target: DomainSpec
    control: DomainSpec
    source_eval: DomainSpec
    selftrain_steps: int

    def with_steps(self, selftrain_steps: int) -> DemoScale:
        """The same scale with another self-training length."""
        return replace(self, selftrain_steps=selftrain_steps)


RECIPE = PretrainRecipe(
    classes=DEMO_CLASSES,
    # The broad 2D corpus: 120 objects per class (other objects than the source's and the target's), each seen in
    # 6 random looks: 11.5k images, where the source has 3.8k renders in one clean look.
    corpus=DomainSpec("corpus", 120, {"test_fraction": 0.05}),
    source=DomainSpec("source", 40),
    views=6,
    image_size=64,
    points=512,
    data_seed=0,
    clip_epochs=60,
    ulip_epochs=30,
    seed=0,
    shapes_version=2,
)

TARGET_SEED = 3
"""Seed of the demo's target objects. The benchmark and the demo's settings were designed on the target objects of
seed 1 (``VALIDATION_SEED``, a labelled validation world) and never on these; their test split gives the numbers the
demo reports. Seed 2 was the target of the first version of the generators; its test split was looked at when that
version's per-class failures were studied, so version 2 reports on objects nobody has looked at."""

VALIDATION_SEED = 1
"""Seed of the target objects the benchmark was designed on (see ``TARGET_SEED``)."""

# The target domain: scans (seen from one to three viewpoints, noisy, rotated about the up axis) with renders of the
# scanned object, each object in a look of its own between the source's (view_shift 0) and a dark, washed-out one
# seen from near the horizon (view_shift 1), something standing in front of it in 40 % of the views. 35 test objects
# per class: 490 objects, one object = 0.20 points.
_TARGET_OPTIONS: dict[str, Any] = {
    "target_views": "render",
    "view_shift": 1.0,
    "view_shift_min": 0.0,
    "partiality": 0.25,
    "occlusion": 0.4,
    "noise": 0.01,
    "clutter": 0.0,
    "test_fraction": 0.47,
}

DEFAULT_SCALE = DemoScale(
    name="default",
    recipe=RECIPE,
    target=DomainSpec("target", 75, dict(_TARGET_OPTIONS), TARGET_SEED),
    control=DomainSpec("target", 75, {**_TARGET_OPTIONS, "target_views": "depth"}, TARGET_SEED),
    source_eval=RECIPE.source,
    selftrain_steps=250,
)

QUICK_SCALE = DemoScale(
    name="quick",
    recipe=RECIPE,
    target=DomainSpec("target", 24, {**_TARGET_OPTIONS, "test_fraction": 0.5}, TARGET_SEED),
    control=DomainSpec("target", 24, {**_TARGET_OPTIONS, "test_fraction": 0.5, "target_views": "depth"}, TARGET_SEED),
    source_eval=DomainSpec("source", 12, {"test_fraction": 0.5}),
    selftrain_steps=40,
)
