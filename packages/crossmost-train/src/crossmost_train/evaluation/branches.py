"""How each reported branch scores an object (DESIGN.md §5), for evaluation and prediction alike.

* ``image``: one fixed view per object (``data.eval_view``).
* ``image*``: the mean of the L2-normalised embeddings of all views, renormalised, then classified. Logits are
  linear in the embedding, so this is also the view-average of the cosine logits up to the norm of the mean.
* ``point``: the point branch.
* ``joint``: image* and point combined, by default as the mean of their softmax probabilities (reported as log of
  that mean, so its argmax is the prediction); ``eval.joint_rule=logit`` averages the two logit vectors instead.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["BRANCHES", "combine_joint", "pool_views"]

BRANCHES = ("image", "image*", "point", "joint")


def pool_views(per_view: Tensor) -> Tensor:
    """The ``image*`` embedding from L2-normalised per-view embeddings (``…×V×D`` → ``…×D``)."""
    return F.normalize(per_view.mean(dim=-2), dim=-1)


def combine_joint(image_logits: Tensor, point_logits: Tensor, rule: str) -> Tensor:
    """The ``joint`` scores from image* and point logits (see the module docstring)."""
    if rule == "logit":
        return (image_logits.float() + point_logits.float()) / 2
    if rule == "probability":
        probs = (image_logits.float().softmax(dim=1) + point_logits.float().softmax(dim=1)) / 2
        return probs.clamp_min(1e-30).log()
    raise ValueError(f"eval.joint_rule must be 'probability' or 'logit', got {rule!r}")
