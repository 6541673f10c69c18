"""ViTDet's simple feature pyramid: a multi-scale pyramid from the last map of a plain ViT."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn

from .registry import register_downstream


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Simple feature pyramid of ViTDet (Li et al., 2022) for detectors with a plain ViT.

    Only the backbone's last feature map (stride ``s``, e.g. 16) is used. Level ``k`` resamples it
    by ``scale_factors[k]``: x4 with two stride-2 transposed convolutions (norm and activation in
    between, halving the channels each time), x2 with one, x1 unchanged, x0.5 by 2x2 max pooling.
    Each level then gets a 1x1 convolution to ``out_channels`` and a 3x3 convolution, both followed
    by a norm. Levels beyond ``len(scale_factors)`` are stride-2 subsamplings of the last one (as
    the P6 of an FPN for the RPN). With the defaults the outputs have strides 4, 8, 16, 32, 64, the
    input of mmdet's RPN and RoI heads in place of an FPN.

    Args:
        in_channels (int): Channels of the backbone map.
        out_channels (int): Channels of every output. Defaults to 256.
        scale_factors (Sequence[float]): Resampling per level, each one of 4, 2, 1 and 0.5.
            Defaults to ``(4.0, 2.0, 1.0, 0.5)``.
        num_outs (int): Number of outputs (at least ``len(scale_factors)``). Defaults to 5.
        norm_cfg (dict): Norm after each convolution, on ``(N, C, H, W)``.
            Defaults to ``dict(type='mmpretrain.LN2d', eps=1e-6)``.
        act_cfg (dict): Activation between the two upsamplings of the x4 level.
            Defaults to ``dict(type='GELU')``.
        init_cfg (dict | list, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='mmpretrain.LN2d', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs ({num_outs}) must be at least the number of scale '
                             f'factors ({len(scale_factors)}).')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(scale_factors)
        self.num_outs = num_outs
        self.resample = nn.ModuleList()
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for scale in self.scale_factors:
            layer, channels = self._resampler(scale, in_channels, norm_cfg, act_cfg)
            self.resample.append(layer)
            self.lateral_convs.append(
                ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))
            self.output_convs.append(
                ConvModule(
                    out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None))

    @staticmethod
    def _resampler(scale: float, channels: int, norm_cfg: dict,
                   act_cfg: dict) -> Tuple[nn.Module, int]:
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                build_norm_layer(norm_cfg, channels // 2)[1], build_activation_layer(act_cfg),
                nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2)), channels // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(channels, channels // 2, 2, stride=2), channels // 2
        if scale == 1.0:
            return nn.Identity(), channels
        if scale == 0.5:
            return nn.MaxPool2d(2, stride=2), channels
        raise ValueError(f'scale factor {scale} is not supported; use 4, 2, 1 or 0.5.')

    def forward(self, inputs: Union[torch.Tensor,
                                    Sequence[torch.Tensor]]) -> Tuple[torch.Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs (Tensor | Sequence[Tensor]): The backbone's map ``(N, C, H, W)`` or its
                outputs, of which the last is used.

        Returns:
            tuple[Tensor]: ``num_outs`` maps with ``out_channels`` channels, finest first.
        """
        x = inputs if torch.is_tensor(inputs) else inputs[-1]
        if x.shape[1] != self.in_channels:
            raise ValueError(f'SimpleFeaturePyramid expects {self.in_channels} input channels, '
                             f'got a map of shape {tuple(x.shape)}.')
        outs = [
            out_conv(lateral(resample(x))) for resample, lateral, out_conv in zip(
                self.resample, self.lateral_convs, self.output_convs)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)


register_downstream(SimpleFeaturePyramid, 'MODELS', scopes=('mmdet', ))
