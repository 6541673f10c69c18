"""Projection heads: DINO/iBOT's MLP + prototypes, and the base/auxiliary branch logic."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
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
    """``in → hidden → ... → out`` MLP.

    Without ``norm_cfg`` it is DINO's head MLP (biases, GELU, no normalisation). With ``norm_cfg``
    the linear layers lose their biases and a norm follows every hidden layer, as MoCo v3's
    projector and predictor (BN, ReLU).

    Args:
        in_channels (int): Input width.
        hidden_channels (int): Hidden width. Defaults to 2048.
        bottleneck_channels (int): Output width. Defaults to 256.
        num_layers (int): Number of linear layers. Defaults to 3.
        norm_cfg (dict, optional): Norm after each hidden layer, e.g. ``dict(type='SyncBN')``.
            Defaults to None.
        act_cfg (dict): Activation. Defaults to ``dict(type='GELU')``.
        last_norm (bool): Also normalise the output, without affine parameters (MoCo v3's
            projector). Needs ``norm_cfg``. Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='GELU'),
                 last_norm: bool = False) -> None:
        if last_norm and norm_cfg is None:
            raise ValueError('ProjectionMLP: last_norm=True needs a norm_cfg.')
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [bottleneck_channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1], bias=norm_cfg is None))
            if i < num_layers - 1:
                if norm_cfg is not None:
                    layers.append(build_norm_layer(norm_cfg, dims[i + 1])[1])
                layers.append(build_activation_layer(act_cfg))
            elif last_norm:
                layers.append(build_norm_layer(dict(norm_cfg, affine=False), dims[i + 1])[1])
        super().__init__(*layers)
        self.in_channels = in_channels
        self.with_norm = norm_cfg is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_norm and x.dim() != 2:
            # Batch norms read (N, C): fold token dimensions into the batch.
            return super().forward(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)
        return super().forward(x)


class BranchProjector(BaseModule):
    """Base class of the projection heads: one MLP for the base, one for the auxiliary head.

    ``shared_mlp`` (a discrepancy-reducing control) makes the auxiliary outputs use the base MLP;
    ``with_aux=False`` builds the plain, non-HSSL baseline without any auxiliary parameters.

    Args:
        in_channels (int): Width of the base output.
        aux_in_channels (int, optional): Width of the auxiliary head output. Defaults to
            ``in_channels``.
        shared_mlp (bool): Share the base MLP with the auxiliary branch. Defaults to False.
        with_aux (bool): Whether there is an auxiliary branch at all. Defaults to True.
        mlp_cfg (dict): Arguments of :class:`ProjectionMLP` except ``in_channels``.
        init_cfg (dict | list, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 aux_in_channels: Optional[int],
                 shared_mlp: bool,
                 with_aux: bool,
                 mlp_cfg: dict,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        aux_in_channels = aux_in_channels or in_channels
        name = type(self).__name__
        if with_aux and shared_mlp and aux_in_channels != in_channels:
            raise ValueError(f'{name}: shared_mlp needs equal base and aux widths, got '
                             f'{in_channels} and {aux_in_channels}.')
        self.in_channels = in_channels
        self.aux_in_channels = aux_in_channels if with_aux else None
        self.with_aux = with_aux
        self.base_mlp = ProjectionMLP(in_channels, **mlp_cfg)
        self.aux_mlp = (
            ProjectionMLP(aux_in_channels, **mlp_cfg) if with_aux and not shared_mlp else None)

    @property
    def with_norm(self) -> bool:
        """Whether the MLPs normalise over the batch (their outputs then depend on it)."""
        return self.base_mlp.with_norm

    def mlp(self, aux: bool) -> nn.Module:
        """The MLP of the auxiliary (``aux=True``) or base branch."""
        if aux and not self.with_aux:
            raise RuntimeError(f'{type(self).__name__} was built with with_aux=False.')
        return self.aux_mlp if (aux and self.aux_mlp is not None) else self.base_mlp


@MODELS.register_module()
class HSSLProjector(BranchProjector):
    """Separate base and auxiliary MLPs sharing one weight-normalised prototype layer (DINO/iBOT).

    The projector runs in float32 under mixed precision (its inputs are cast up).

    Args:
        in_channels (int): Width of the base tokens.
        aux_in_channels (int, optional): Width of the auxiliary tokens. Defaults to ``in_channels``.
        out_channels (int): Number of prototypes. Defaults to 8192.
        hidden_channels (int): MLP hidden width. Defaults to 2048.
        bottleneck_channels (int): MLP output width. Defaults to 256.
        num_layers (int): Linear layers per MLP. Defaults to 3.
        norm_cfg (dict, optional): Norm in the MLPs (DINO's ``use_bn_in_head``). Defaults to None.
        norm_last_layer (bool): Fix the prototype gain to 1. Defaults to True.
        shared_mlp (bool): Use the base MLP for the auxiliary tokens too, a discrepancy-reducing
            control. The prototype layer is always shared. Defaults to False.
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
                 norm_cfg: Optional[dict] = None,
                 norm_last_layer: bool = True,
                 shared_mlp: bool = False,
                 with_aux: bool = True,
                 init_cfg=None) -> None:
        if init_cfg is None:
            init_cfg = dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)
        super().__init__(
            in_channels,
            aux_in_channels,
            shared_mlp,
            with_aux,
            dict(
                hidden_channels=hidden_channels,
                bottleneck_channels=bottleneck_channels,
                num_layers=num_layers,
                norm_cfg=norm_cfg),
            init_cfg=init_cfg)
        self.last_layer = WeightNormLinear(
            bottleneck_channels, out_channels, learn_gain=not norm_last_layer)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor, aux: bool = False, student: bool = False) -> torch.Tensor:
        """Project tokens ``(..., C)`` to prototype logits ``(..., out_channels)``.

        Args:
            x (torch.Tensor): Tokens.
            aux (bool): Whether they come from the auxiliary head. Defaults to False.
            student (bool): Unused: student and teacher project alike. Defaults to False.

        Returns:
            torch.Tensor: Logits.
        """
        # Always float32, autocast or not: the logits are cosines divided by a teacher
        # temperature of 0.04, so bf16 rounding of the head would become noise in the targets and
        # the centers (the reference trains in float32; dinov2 keeps its heads in float32).
        with torch.autocast(device_type=x.device.type, enabled=False):
            h = self.mlp(aux)(x.float())
            return self.last_layer(F.normalize(h, dim=-1, p=2))
