"""Which view(s) of a sample a loader reads (spec §3.6, §4.2)."""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["ViewPolicy", "available_views", "choose_view", "default_view_policy"]

ViewPolicy = Literal["random", "fixed", "all"]
"""``random``: one view drawn per (seed, epoch, index); ``fixed``: always ``fixed_view``; ``all`` (evaluation only):
every available view as ``views`` plus ``fixed_view`` as ``image``."""


def default_view_policy(mode: str) -> ViewPolicy:
    """``random`` for training (the official per-step view choice), ``fixed`` for evaluation (reproducible)."""
    return "random" if mode == "train" else "fixed"


def available_views(stored_views: int, views_subset: int | None) -> int:
    """Number of views a loader may use: the first ``views_subset`` of the stored views (the views ablation).

    Raises:
        ValueError: ``views_subset`` is not in ``[1, stored_views]``.
    """
    if stored_views < 1:
        raise ValueError(f"the dataset has no views (num_views={stored_views}); a loader needs at least one")
    if views_subset is None:
        return stored_views
    if not 1 <= views_subset <= stored_views:
        raise ValueError(
            f"views_subset must be in [1, {stored_views}] (the views stored per sample), got {views_subset}"
        )
    return views_subset


def choose_view(policy: ViewPolicy, num_views: int, fixed_view: int, rng: np.random.Generator) -> int:
    """The single view a sample shows under ``policy`` (``all`` shows ``fixed_view`` as its single image)."""
    if policy == "random":
        return int(rng.integers(0, num_views))
    return fixed_view
