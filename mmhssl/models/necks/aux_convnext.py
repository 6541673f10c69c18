"""ConvNeXt-style auxiliary head stacked on a transformer base (the HSSL reference head)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmpretrain.registry import MODELS
from torch import nn

from .base_aux_head import BaseAuxHead


class AuxConvNeXtBlock(nn.Module):
    """Depthwise k×k conv, channels LayerNorm, Linear 4× GELU Linear; no layer scale.

    Args:
        channels (int): Width.
        kernel_size (int): Depthwise kernel size. Defaults to 7.
        shortcut (bool): Add the input back (with drop-path). Defaults to True.
        drop_path (float): Drop-path rate of the residual branch. Defaults to 0.
        mlp_ratio (int): Hidden width of the pointwise MLP. Defaults to 4.
    """

    def __init__(self,
                 channels: int,
                 kernel_size: int = 7,
                 shortcut: bool = True,
                 drop_path: float = 0.,
                 mlp_ratio: int = 4) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-5)
        self.pwconv1 = nn.Linear(channels, mlp_ratio * channels)
        self.pwconv2 = nn.Linear(mlp_ratio * channels, channels)
        self.shortcut = shortcut
        self.drop_path = DropPath(drop_path) if shortcut and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.drop_path(y) if self.shortcut else y


@MODELS.register_module()
class AuxConvNeXtHead(BaseAuxHead):
    """Auxiliary head of ConvNeXt blocks on the base model's feature map (the HSSL reference head).

    On a ViT base it takes the last block's patch tokens (before the final norm by default) as a
    ``(B, C, h, w)`` grid, applies ``depth`` blocks at constant width, and returns the global
    average of the map as the auxiliary class token after its own LayerNorm. Dropped after
    pretraining.

    Args:
        in_channels (int): Width of the base features (e.g. 768 for ViT-B).
        depth (int): Number of blocks. Defaults to 3.
        kernel_size (int): Depthwise kernel size, the locality prior of the head: 7 is the
            reference; 1 removes spatial mixing and turns the head into a per-token MLP (less
            discrepancy with a transformer base). Defaults to 7.
        channels_last (bool): Run the blocks on a channels-last map, so that the permutes around
            the per-position LayerNorm and MLP are free views instead of copies (faster on GPU
            tensor cores; same values). Defaults to False.
        **kwargs: ``embed_dims``, ``first_shortcut``, ``drop_path_rate``, ``base_depth``,
            ``return_patch_tokens`` and ``init_cfg`` of :class:`BaseAuxHead`.
    """

    def __init__(self,
                 in_channels: int,
                 depth: int = 3,
                 kernel_size: int = 7,
                 channels_last: bool = False,
                 **kwargs) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'AuxConvNeXtHead: kernel_size must be odd and positive, got {kernel_size}.')
        super().__init__(
            in_channels, depth, lambda c, shortcut, dp: AuxConvNeXtBlock(
                c, kernel_size, shortcut=shortcut, drop_path=dp), **kwargs)
        self.kernel_size = kernel_size
        self.channels_last = channels_last

    def mix(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(2, 3)), x.flatten(2).transpose(1, 2)
