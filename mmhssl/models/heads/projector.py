"""DINO/iBOT projection head: MLP, L2 normalisation and a weight-normalised prototype layer."""
from typing import Optional

import math

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn


class WeightNormLinear(nn.Module):
    """Bias-free linear layer ``W = g * v / ||v||`` (rows normalised), as ``nn.utils.weight_norm``.

    Kept as plain parameters so checkpoint keys stay stable across torch versions (the
    parametrization API renames them). With ``norm_last_layer`` the gain is fixed to 1 and not a
    parameter at all.

    Args:
        in_features (int): Input width.
        out_features (int): Number of prototypes.
        learn_gain (bool): Learn the per-row gain ``g``. Defaults to False.
    """

    def __init__(self, in_features: int, out_features: int, learn_gain: bool = False) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))  # nn.Linear's default init
        self.weight_g = nn.Parameter(torch.ones(out_features, 1)) if learn_gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.normalize(self.weight_v, dim=1)
        if self.weight_g is not None:
            w = w * self.weight_g
        return F.linear(x, w)


class ProjectionMLP(nn.Sequential):
    """``in → hidden → ... → bottleneck`` MLP with GELU, no normalisation (DINO's ``norm=None``).

    Args:
        in_channels (int): Input width.
        hidden_channels (int): Hidden width. Defaults to 2048.
        bottleneck_channels (int): Output width. Defaults to 256.
        num_layers (int): Number of linear layers. Defaults to 3.
    """

    def __init__(self, in_channels: int, hidden_channels: int = 2048,
                 bottleneck_channels: int = 256, num_layers: int = 3) -> None:
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [bottleneck_channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        super().__init__(*layers)


@MODELS.register_module()
class HSSLProjector(BaseModule):
    """Separate base and auxiliary MLPs sharing one weight-normalised prototype layer.

    Args:
        in_channels (int): Width of the base tokens.
        aux_in_channels (int, optional): Width of the auxiliary tokens. Defaults to ``in_channels``.
        out_channels (int): Number of prototypes. Defaults to 8192.
        hidden_channels (int): MLP hidden width. Defaults to 2048.
        bottleneck_channels (int): MLP output width. Defaults to 256.
        num_layers (int): Linear layers per MLP. Defaults to 3.
        norm_last_layer (bool): Fix the prototype gain to 1. Defaults to True.
        shared_mlp (bool): Use the base MLP for the auxiliary tokens too, a discrepancy-reducing
            control. Defaults to False.
        with_aux (bool): Build the auxiliary MLP (False for plain, non-HSSL baselines).
            Defaults to True.
        init_cfg (dict | list, optional): Defaults to truncated normal (std 0.02) for the MLPs.
    """

    def __init__(self,
                 in_channels: int,
                 aux_in_channels: Optional[int] = None,
                 out_channels: int = 8192,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 norm_last_layer: bool = True,
                 shared_mlp: bool = False,
                 with_aux: bool = True,
                 init_cfg=None) -> None:
        if init_cfg is None:
            init_cfg = dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)
        super().__init__(init_cfg=init_cfg)
        aux_in_channels = aux_in_channels or in_channels
        self.base_mlp = ProjectionMLP(in_channels, hidden_channels, bottleneck_channels, num_layers)
        self.aux_mlp = None
        if with_aux and not shared_mlp:
            self.aux_mlp = ProjectionMLP(aux_in_channels, hidden_channels, bottleneck_channels,
                                         num_layers)
        elif with_aux and aux_in_channels != in_channels:
            raise ValueError('HSSLProjector: shared_mlp needs equal base and aux widths, got '
                             f'{in_channels} and {aux_in_channels}.')
        self.last_layer = WeightNormLinear(bottleneck_channels, out_channels,
                                           learn_gain=not norm_last_layer)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor, aux: bool = False) -> torch.Tensor:
        """Project tokens ``(..., C)`` to prototype logits ``(..., out_channels)``.

        Args:
            x (torch.Tensor): Tokens.
            aux (bool): Whether they come from the auxiliary head. Defaults to False.

        Returns:
            torch.Tensor: Logits.
        """
        mlp = self.aux_mlp if (aux and self.aux_mlp is not None) else self.base_mlp
        return self.last_layer(F.normalize(mlp(x), dim=-1, p=2))
