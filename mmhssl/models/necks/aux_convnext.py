"""ConvNeXt-style auxiliary head stacked on a transformer base (the HSSL reference head)."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


class AuxConvNeXtBlock(nn.Module):
    """Depthwise k×k conv, channels LayerNorm, Linear 4× GELU Linear; no layer scale.

    Args:
        channels (int): Width.
        kernel_size (int): Depthwise kernel size. Defaults to 7.
        shortcut (bool): Add the input back (with drop-path). Defaults to True.
        drop_path (float): Drop-path rate of the residual branch. Defaults to 0.
        mlp_ratio (int): Hidden width of the pointwise MLP. Defaults to 4.
    """

    def __init__(self, channels: int, kernel_size: int = 7, shortcut: bool = True,
                 drop_path: float = 0., mlp_ratio: int = 4) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2,
                                groups=channels)
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
class AuxConvNeXtHead(BaseModule):
    """Auxiliary head of ConvNeXt blocks on the base model's patch-token grid.

    It takes the last transformer block's patch tokens before the final norm, reshaped row-major to
    ``(B, C, h, w)``, applies ``depth`` blocks at constant width, and returns the global average of
    the map as the auxiliary class token after its own LayerNorm. Dropped after pretraining.

    Args:
        in_channels (int): Width of the base tokens (e.g. 768 for ViT-B).
        depth (int): Number of blocks. Defaults to 3.
        kernel_size (int): Depthwise kernel size; 1 turns the head into a per-token MLP.
            Defaults to 7.
        first_shortcut (bool): Whether the first block has a residual shortcut. The reference removes
            it so the head's output cannot collapse onto the base features. Defaults to False.
        drop_path_rate (float | Sequence[float]): Either one rate per block, or the end value of the
            stochastic-depth ramp shared with the base: rates are then
            ``linspace(0, drop_path_rate, base_depth + depth)[base_depth:]``. Defaults to 0.1.
        base_depth (int): Number of base blocks, for the shared ramp. Defaults to 12.
        return_patch_tokens (bool): Also return the normed auxiliary patch tokens. No reference loss
            uses them. Defaults to False.
        init_cfg (dict | list, optional): Initialization config. Defaults to truncated normal
            (std 0.02) for linear and conv layers.
    """

    input_type = 'token_grid'

    def __init__(self,
                 in_channels: int,
                 depth: int = 3,
                 kernel_size: int = 7,
                 first_shortcut: bool = False,
                 drop_path_rate: Union[float, Sequence[float]] = 0.1,
                 base_depth: int = 12,
                 return_patch_tokens: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='TruncNormal', layer=['Linear', 'Conv2d'], std=0.02, bias=0.),
                        dict(type='Constant', layer='LayerNorm', val=1., bias=0.)]
        super().__init__(init_cfg=init_cfg)
        if depth < 1:
            raise ValueError(f'AuxConvNeXtHead: depth must be >= 1, got {depth}.')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'AuxConvNeXtHead: kernel_size must be odd and positive, got {kernel_size}.')
        if isinstance(drop_path_rate, (int, float)):
            rates = torch.linspace(0, drop_path_rate, base_depth + depth)[base_depth:].tolist()
        else:
            rates = list(drop_path_rate)
            if len(rates) != depth:
                raise ValueError(f'AuxConvNeXtHead: {len(rates)} drop-path rates for {depth} blocks.')
        self.in_channels = in_channels
        self.blocks = nn.ModuleList([
            AuxConvNeXtBlock(in_channels, kernel_size, shortcut=(i > 0 or first_shortcut),
                             drop_path=rates[i]) for i in range(depth)
        ])
        self.norm = nn.LayerNorm(in_channels, eps=1e-6)
        self.return_patch_tokens = return_patch_tokens

    def forward(self, x: torch.Tensor) -> dict:
        """Args:
            x (torch.Tensor): Base feature map ``(B, C, h, w)``.

        Returns:
            dict: ``cls`` ``(B, C)``, and ``patch`` ``(B, h*w, C)`` if ``return_patch_tokens``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'AuxConvNeXtHead expects a (B, {self.in_channels}, h, w) map, got '
                             f'{tuple(x.shape)}.')
        for block in self.blocks:
            x = block(x)
        out = dict(cls=self.norm(x.mean(dim=(2, 3))))
        if self.return_patch_tokens:
            out['patch'] = self.norm(x.flatten(2).transpose(1, 2))
        return out
