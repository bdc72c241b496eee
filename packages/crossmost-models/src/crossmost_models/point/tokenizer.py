"""The mini-PointNet that turns each local group of points into one token (Point-BERT's dVAE ``Encoder``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

POINT_BERT_WIDTHS = (128, 256, 512)
"""Point-BERT's inner widths (first hidden, first out, second hidden), those of every released checkpoint."""


class PointTokenizer(nn.Module):
    """Shared per-point MLPs with two max-pools: ``B×G×K×C`` groups → ``B×G×out_dims`` tokens.

    With Point-BERT's widths (``h1, o1, h2 = 128, 256, 512``):

    1. per point: Conv1d ``C→h1``, BatchNorm, ReLU, Conv1d ``h1→o1``;
    2. max over the ``K`` points of the group gives an ``o1``-d group vector, concatenated to every point (``2·o1``);
    3. per point: Conv1d ``2·o1→h2``, BatchNorm, ReLU, Conv1d ``h2→out_dims``;
    4. max over the points gives the token.

    Parameter names (``first_conv.{0,1,3}``, ``second_conv.{0,1,3}``) are those of Point-BERT and ULIP, so their
    checkpoints load by key.

    Args:
        in_channels: channels per point: 3 (xyz relative to the group centre) or 6 (plus rgb).
        out_dims: token width (``encoder_dims``, 256 in Point-BERT).
        widths: the inner widths ``(h1, o1, h2)``.
    """

    def __init__(
        self, in_channels: int = 3, out_dims: int = 256, widths: tuple[int, int, int] = POINT_BERT_WIDTHS
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_dims = out_dims
        first_hidden, first_out, second_hidden = widths
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, first_hidden, 1),
            nn.BatchNorm1d(first_hidden),
            nn.ReLU(inplace=True),
            nn.Conv1d(first_hidden, first_out, 1),
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(2 * first_out, second_hidden, 1),
            nn.BatchNorm1d(second_hidden),
            nn.ReLU(inplace=True),
            nn.Conv1d(second_hidden, out_dims, 1),
        )

    def forward(self, groups: Tensor) -> Tensor:
        """Tokenize ``B×G×K×C`` neighbourhoods into ``B×G×out_dims`` tokens."""
        if groups.ndim != 4 or groups.shape[-1] != self.in_channels:
            raise ValueError(f"the tokenizer expects B×G×K×{self.in_channels} groups; got shape {tuple(groups.shape)}")
        batch_size, num_groups, group_size, channels = groups.shape
        per_point = groups.reshape(batch_size * num_groups, group_size, channels).transpose(1, 2)
        features = self.first_conv(per_point)  # (B·G)×o1×K
        pooled = features.amax(dim=2, keepdim=True)
        features = torch.cat([pooled.expand(-1, -1, group_size), features], dim=1)  # (B·G)×2·o1×K
        features = self.second_conv(features)
        return features.amax(dim=2).reshape(batch_size, num_groups, self.out_dims)
