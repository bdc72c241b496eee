"""The mini-PointNet that turns each local group of points into one token (Point-BERT's dVAE ``Encoder``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

FIRST_HIDDEN = 128
FIRST_OUT = 256
SECOND_HIDDEN = 512


class PointTokenizer(nn.Module):
    """Shared per-point MLPs with two max-pools: ``B×G×K×C`` groups → ``B×G×out_dims`` tokens.

    1. per point: Conv1d ``C→128``, BatchNorm, ReLU, Conv1d ``128→256``;
    2. max over the ``K`` points of the group gives a 256-d group vector, concatenated to every point (512);
    3. per point: Conv1d ``512→512``, BatchNorm, ReLU, Conv1d ``512→out_dims``;
    4. max over the points gives the token.

    Parameter names (``first_conv.{0,1,3}``, ``second_conv.{0,1,3}``) are those of Point-BERT and ULIP, so their
    checkpoints load by key.

    Args:
        in_channels: channels per point: 3 (xyz relative to the group centre) or 6 (plus rgb).
        out_dims: token width (``encoder_dims``, 256 in Point-BERT).
    """

    def __init__(self, in_channels: int = 3, out_dims: int = 256) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_dims = out_dims
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, FIRST_HIDDEN, 1),
            nn.BatchNorm1d(FIRST_HIDDEN),
            nn.ReLU(inplace=True),
            nn.Conv1d(FIRST_HIDDEN, FIRST_OUT, 1),
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(2 * FIRST_OUT, SECOND_HIDDEN, 1),
            nn.BatchNorm1d(SECOND_HIDDEN),
            nn.ReLU(inplace=True),
            nn.Conv1d(SECOND_HIDDEN, out_dims, 1),
        )

    def forward(self, groups: Tensor) -> Tensor:
        """Tokenize ``B×G×K×C`` neighbourhoods into ``B×G×out_dims`` tokens."""
        if groups.ndim != 4 or groups.shape[-1] != self.in_channels:
            raise ValueError(f"the tokenizer expects B×G×K×{self.in_channels} groups; got shape {tuple(groups.shape)}")
        batch_size, num_groups, group_size, channels = groups.shape
        per_point = groups.reshape(batch_size * num_groups, group_size, channels).transpose(1, 2)
        features = self.first_conv(per_point)  # (B·G)×256×K
        pooled = features.amax(dim=2, keepdim=True)
        features = torch.cat([pooled.expand(-1, -1, group_size), features], dim=1)  # (B·G)×512×K
        features = self.second_conv(features)
        return features.amax(dim=2).reshape(batch_size, num_groups, self.out_dims)
