"""MLP-block auxiliary head: per-position MLPs, no spatial mixing (a discrepancy control)."""
from typing import Tuple

import torch
from mmcv.cnn.bricks import DropPath
from mmpretrain.registry import MODELS
from torch import nn

from .base_aux_head import BaseAuxHead


class AuxMLPBlock(nn.Module):
    """LayerNorm, Linear, GELU, Linear on each position; optional residual shortcut.

    Args:
        channels (int): Width.
        mlp_ratio (float): Hidden width relative to ``channels``. Defaults to 4.
        shortcut (bool): Add the input back (with drop-path). Defaults to True.
        drop_path (float): Drop-path rate of the residual branch. Defaults to 0.
    """

    def __init__(self,
                 channels: int,
                 mlp_ratio: float = 4.,
                 shortcut: bool = True,
                 drop_path: float = 0.) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.shortcut = shortcut
        self.drop_path = DropPath(drop_path) if shortcut and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(self.norm(x))
        return x + self.drop_path(y) if self.shortcut else y


@MODELS.register_module()
class AuxMLPHead(BaseAuxHead):
    """Auxiliary head of per-position MLP blocks, averaged into the auxiliary class output.

    Without any spatial mixing it is the least heterogeneous head for a transformer base (the
    control of the discrepancy study). Because it treats positions independently it also accepts a
    pooled base output (a ``1 x 1`` map).

    Args:
        in_channels (int): Width of the base features.
        depth (int): Number of blocks. Defaults to 3.
        mlp_ratio (float): Hidden width relative to ``embed_dims``. Defaults to 4.
        **kwargs: ``embed_dims``, ``first_shortcut``, ``drop_path_rate``, ``base_depth``,
            ``return_patch_tokens`` and ``init_cfg`` of :class:`BaseAuxHead`.
    """

    input_types = ('token_grid', 'feature_map', 'vector')

    def __init__(self, in_channels: int, depth: int = 3, mlp_ratio: float = 4., **kwargs) -> None:
        super().__init__(
            in_channels, depth,
            lambda c, shortcut, dp: AuxMLPBlock(c, mlp_ratio, shortcut=shortcut, drop_path=dp),
            **kwargs)

    def mix(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(2).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=1), x
