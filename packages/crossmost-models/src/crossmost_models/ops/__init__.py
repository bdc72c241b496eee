"""Point-cloud grouping ops in batched torch: farthest-point sampling, kNN grouping, ball query, group masks, input
checks.

Everything works on CPU and CUDA, in any float dtype, without a Python loop over the batch, and draws its random
numbers from an optional ``torch.Generator``.
"""

from crossmost_models.ops.ball_query import ball_query as ball_query
from crossmost_models.ops.checks import check_points as check_points
from crossmost_models.ops.fps import farthest_point_sample as farthest_point_sample
from crossmost_models.ops.grouping import group_points as group_points
from crossmost_models.ops.knn import knn_group as knn_group
from crossmost_models.ops.masking import block_mask_groups as block_mask_groups
from crossmost_models.ops.masking import random_mask_groups as random_mask_groups

__all__ = [
    "ball_query",
    "block_mask_groups",
    "check_points",
    "farthest_point_sample",
    "group_points",
    "knn_group",
    "random_mask_groups",
]
