"""Pre-LN ViT blocks with the positional embedding re-added before every block (Point-BERT's transformer).

Module and parameter names follow Point-BERT/ULIP (``blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
mlp.fc2}``) so that their checkpoints map by key.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a whole residual branch per sample with probability ``rate``."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        """Drop (and rescale the survivors of) ``x`` per sample; the identity in eval mode or at rate 0."""
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection (no bias by default) and an output ``proj``."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the ``L`` tokens of ``B×L×D`` input."""
        batch_size, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch_size, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # scale 1/sqrt(head_dim)
        return self.proj(attended.transpose(1, 2).reshape(batch_size, length, dim))


class Mlp(nn.Module):
    """``fc1`` → GELU → ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the two-layer MLP token-wise."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``, each with drop-path."""

    def __init__(
        self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0, qkv_bias: bool = False, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """Run the block on ``B×L×D`` tokens."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PositionalTransformer(nn.Module):
    """A stack of :class:`Block` s; the positional embedding is added to the input of every block.

    Args:
        dim: token width.
        depth: number of blocks.
        num_heads: attention heads per block.
        mlp_ratio: hidden width of the MLP relative to ``dim``.
        qkv_bias: whether the ``qkv`` projection has a bias.
        drop_path_rate: stochastic-depth rate of the last block; it grows linearly from 0 at the first block.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        # Linear from 0 at the first block to drop_path_rate at the last (plain floats: works on the meta device).
        rates = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=rate) for rate in rates
        )

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        """``x = block(x + pos)`` for every block (Point-BERT style, not only once at the input); ``pos=None`` runs
        the plain stack (OpenShape's PPAT, whose tokens carry their centre's coordinates instead)."""
        for block in self.blocks:
            x = block(x if pos is None else x + pos)
        return x
