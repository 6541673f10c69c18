"""Transformer-block auxiliary head: self-attention over the base's flattened feature map."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import MultiheadAttention, resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn

from .base_aux_head import BaseAuxHead


class AuxTransformerBlock(nn.Module):
    """Pre-norm transformer block; the attention shortcut can be removed.

    Args:
        channels (int): Width.
        num_heads (int): Attention heads.
        mlp_ratio (float): Hidden width of the MLP relative to ``channels``. Defaults to 4.
        shortcut (bool): Add the input back around the attention. Without it the block's output is
            ``attn(x) + mlp(attn(x))``: nothing of the input passes through unchanged.
            Defaults to True.
        drop_path (float): Drop-path rate of the residual branches. Defaults to 0.
        qkv_bias (bool): Bias of the qkv projection. Defaults to True.
    """

    def __init__(self,
                 channels: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 shortcut: bool = True,
                 drop_path: float = 0.,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.norm1 = nn.LayerNorm(channels, eps=1e-6)
        self.attn = MultiheadAttention(channels, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.shortcut = shortcut
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.attn(self.norm1(x))
        x = x + self.drop_path(y) if self.shortcut else y
        return x + self.drop_path(self.mlp(self.norm2(x)))


@MODELS.register_module()
class AuxTransformerHead(BaseAuxHead):
    """Auxiliary head of transformer blocks on the base's feature map.

    The ``(B, C, h, w)`` map (a CNN's last stage, or a ViT's patch grid for the homogeneous control)
    is optionally projected 1x1 to ``embed_dims``, flattened to ``h*w`` tokens, given a learned
    position embedding (defined on ``grid_size`` and bicubically resized to other grids), and passed
    through ``depth`` blocks. The auxiliary class output is a learned class token
    (``out_token='cls'``) or the average of the tokens (``'avg'``), after a LayerNorm.

    Args:
        in_channels (int): Width of the base features (e.g. 2048 for ResNet-50).
        depth (int): Number of blocks. Defaults to 3.
        embed_dims (int, optional): Width of the blocks. Defaults to ``in_channels``.
        num_heads (int): Attention heads. Defaults to 8.
        mlp_ratio (float): MLP hidden width relative to ``embed_dims``. Defaults to 4.
        grid_size (int | Sequence[int]): Map size the position embedding is defined on, e.g. 7 for
            a ResNet-50 or 14 for a ViT/16 at 224 px. Defaults to 7.
        out_token (str): ``'cls'`` or ``'avg'``. Defaults to ``'cls'``.
        qkv_bias (bool): Bias of the qkv projections. Defaults to True.
        **kwargs: ``first_shortcut`` (the attention shortcut of the first block, see
            :class:`AuxTransformerBlock`), ``drop_path_rate``, ``base_depth``,
            ``return_patch_tokens`` and ``init_cfg`` of :class:`BaseAuxHead`.
    """

    OUT_TOKENS = ('cls', 'avg')

    def __init__(self,
                 in_channels: int,
                 depth: int = 3,
                 embed_dims: Optional[int] = None,
                 num_heads: int = 8,
                 mlp_ratio: float = 4.,
                 grid_size: Union[int, Sequence[int]] = 7,
                 out_token: str = 'cls',
                 qkv_bias: bool = True,
                 **kwargs) -> None:
        if out_token not in self.OUT_TOKENS:
            raise ValueError(f'AuxTransformerHead: out_token must be one of {self.OUT_TOKENS}, '
                             f'got {out_token!r}.')
        width = embed_dims or in_channels
        if width % num_heads:
            raise ValueError(f'AuxTransformerHead: width {width} is not divisible by '
                             f'num_heads={num_heads}.')
        super().__init__(
            in_channels,
            depth,
            lambda c, shortcut, dp: AuxTransformerBlock(
                c, num_heads, mlp_ratio, shortcut=shortcut, drop_path=dp, qkv_bias=qkv_bias),
            embed_dims=embed_dims,
            **kwargs)
        self.grid_size = ((grid_size,
                           grid_size) if isinstance(grid_size, int) else tuple(grid_size))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.grid_size[0] * self.grid_size[1], self.out_channels))
        self.cls_token = (
            nn.Parameter(torch.zeros(1, 1, self.out_channels)) if out_token == 'cls' else None)

    def init_weights(self) -> None:
        super().init_weights()
        trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            trunc_normal_(self.cls_token, std=0.02)

    def mix(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        B, _, h, w = x.shape
        x = x.flatten(2).transpose(1, 2) + resize_pos_embed(
            self.pos_embed, self.grid_size, (h, w), mode='bicubic', num_extra_tokens=0)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        for block in self.blocks:
            x = block(x)
        if self.cls_token is not None:
            return x[:, 0], x[:, 1:]
        return x.mean(dim=1), x
