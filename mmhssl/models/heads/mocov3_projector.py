"""MoCo v3's projector (both encoders) and predictor (student only), per HSSL branch."""
from typing import Optional

import torch
from mmpretrain.registry import MODELS
from torch import nn

from .projector import BranchProjector, ProjectionMLP


@MODELS.register_module()
class MoCoV3Projector(BranchProjector):
    """Projector MLPs for the base and auxiliary outputs, each followed by a predictor MLP.

    The teacher (momentum encoder) uses the projector only; the student's queries also pass the
    predictor of their branch. ``shared_mlp`` shares both the projector and the predictor between
    the branches.

    Args:
        in_channels (int): Width of the base output (e.g. 2048 for ResNet-50, 384 for ViT-S).
        aux_in_channels (int, optional): Width of the auxiliary head output. Defaults to
            ``in_channels``.
        hidden_channels (int): Hidden width of projector and predictor. Defaults to 4096.
        out_channels (int): Embedding width. Defaults to 256.
        num_layers (int): Projector layers: 3 for ViT bases, 2 for ResNet in MoCo v3.
            Defaults to 3.
        predictor_layers (int): Predictor layers. Defaults to 2.
        predictor_last_norm (bool): Affine-free norm on the predictor output (MoCo v3 ViT: True,
            ResNet: False). Defaults to True.
        norm_cfg (dict): Norm in the MLPs. Defaults to ``dict(type='SyncBN')``.
        shared_mlp (bool): One projector and predictor for both branches. Defaults to False.
        with_aux (bool): Build the auxiliary branch (False for the plain baseline).
            Defaults to True.
        init_cfg (dict | list, optional): Defaults to None (PyTorch's default init, as MoCo v3).
    """

    def __init__(self,
                 in_channels: int,
                 aux_in_channels: Optional[int] = None,
                 hidden_channels: int = 4096,
                 out_channels: int = 256,
                 num_layers: int = 3,
                 predictor_layers: int = 2,
                 predictor_last_norm: bool = True,
                 norm_cfg: dict = dict(type='SyncBN'),
                 shared_mlp: bool = False,
                 with_aux: bool = True,
                 init_cfg=None) -> None:
        act_cfg = dict(type='ReLU')
        super().__init__(
            in_channels,
            aux_in_channels,
            shared_mlp,
            with_aux,
            dict(
                hidden_channels=hidden_channels,
                bottleneck_channels=out_channels,
                num_layers=num_layers,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                last_norm=True),
            init_cfg=init_cfg)

        def predictor() -> nn.Module:
            return ProjectionMLP(
                out_channels,
                hidden_channels,
                out_channels,
                predictor_layers,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                last_norm=predictor_last_norm)

        self.base_predictor = predictor()
        self.aux_predictor = predictor() if with_aux and not shared_mlp else None
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor, aux: bool = False, student: bool = False) -> torch.Tensor:
        """Embed image-level features ``(B, C)``.

        Args:
            x (torch.Tensor): Base or auxiliary output.
            aux (bool): Whether ``x`` comes from the auxiliary head. Defaults to False.
            student (bool): Apply the branch's predictor (queries). Defaults to False (keys).

        Returns:
            torch.Tensor: ``(B, out_channels)`` embeddings (not normalised).
        """
        z = self.mlp(aux)(x)
        if student:
            z = (self.aux_predictor
                 if aux and self.aux_predictor is not None else self.base_predictor)(
                     z)
        return z
