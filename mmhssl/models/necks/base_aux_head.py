"""What every HSSL auxiliary head shares: input check, width, blocks, drop-path, output norm."""
from abc import abstractmethod
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import nn

DEFAULT_INIT = [
    dict(type='TruncNormal', layer=['Linear', 'Conv2d'], std=0.02, bias=0.),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]


def drop_path_rates(drop_path_rate: Union[float, Sequence[float]], depth: int, base_depth: int,
                    owner: str) -> List[float]:
    """Per-block stochastic-depth rates of an auxiliary head.

    Args:
        drop_path_rate (float | Sequence[float]): One rate per block, or the end of the ramp shared
            with the base: ``linspace(0, drop_path_rate, base_depth + depth)[base_depth:]``.
        depth (int): Number of head blocks.
        base_depth (int): Number of base blocks on the shared ramp.
        owner (str): Head name for error messages.

    Returns:
        list[float]: ``depth`` rates.
    """
    if isinstance(drop_path_rate, (int, float)):
        return torch.linspace(0, drop_path_rate, base_depth + depth)[base_depth:].tolist()
    rates = list(drop_path_rate)
    if len(rates) != depth:
        raise ValueError(f'{owner}: {len(rates)} drop-path rates for {depth} blocks.')
    return rates


class BaseAuxHead(BaseModule):
    """Skeleton of an auxiliary head: optional 1x1 width change, ``depth`` blocks, pooled output.

    The head receives the base features as a ``(B, C, h, w)`` map from
    :class:`~mmhssl.models.utils.BaseAdapter`; ``input_types`` lists the base geometries it
    accepts (checked when the algorithm is built). Subclasses give the block type and how the map is
    mixed (:meth:`mix`).

    Discrepancy knobs shared by all heads:

    * ``depth``: number of blocks.
    * ``first_shortcut``: False removes the residual shortcut of the first block, so the head's
      output is a full transformation of the base features rather than "base + small change".
    * ``drop_path_rate``: stochastic depth of the head's residual branches.
    * ``return_patch_tokens``: False (default) never normalises or returns the per-position outputs:
      no HSSL loss uses them, so the auxiliary patch projection is not computed at all.

    Args:
        in_channels (int): Width of the base features.
        depth (int): Number of blocks.
        block_fn (Callable): ``block_fn(channels, shortcut, drop_path) -> nn.Module``.
        embed_dims (int, optional): Width inside the head; a 1x1 projection maps ``in_channels``
            to it when they differ. Defaults to ``in_channels``.
        first_shortcut (bool): Residual shortcut on the first block. Defaults to False.
        drop_path_rate (float | Sequence[float]): See :func:`drop_path_rates`. Defaults to 0.1.
        base_depth (int): Base blocks on the shared drop-path ramp. Defaults to 12.
        return_patch_tokens (bool): Also return the normed per-position outputs. Defaults to False.
        init_cfg (dict | list, optional): Defaults to truncated normal (std 0.02) for linear and
            conv layers and unit LayerNorms.
    """

    input_types: Tuple[str, ...] = ('token_grid', 'feature_map')

    def __init__(self,
                 in_channels: int,
                 depth: int,
                 block_fn: Callable[[int, bool, float], nn.Module],
                 embed_dims: Optional[int] = None,
                 first_shortcut: bool = False,
                 drop_path_rate: Union[float, Sequence[float]] = 0.1,
                 base_depth: int = 12,
                 return_patch_tokens: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=DEFAULT_INIT if init_cfg is None else init_cfg)
        name = type(self).__name__
        if depth < 1:
            raise ValueError(f'{name}: depth must be >= 1, got {depth}.')
        rates = drop_path_rates(drop_path_rate, depth, base_depth, name)
        self.in_channels = in_channels
        self.out_channels = embed_dims or in_channels
        self.input_proj = (
            nn.Conv2d(in_channels, self.out_channels, 1)
            if self.out_channels != in_channels else None)
        self.blocks = nn.ModuleList(
            [block_fn(self.out_channels, i > 0 or first_shortcut, rates[i]) for i in range(depth)])
        self.norm = nn.LayerNorm(self.out_channels, eps=1e-6)
        self.return_patch_tokens = return_patch_tokens

    @abstractmethod
    def mix(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Apply the blocks to the map ``(B, C, h, w)``; every head type defines it.

        Returns:
            tuple[Tensor, Tensor]: The pooled output ``(B, C)`` and the per-position outputs
            ``(B, h*w, C)``, both before the final norm.
        """

    def forward(self, x: torch.Tensor) -> dict:
        """Args:
            x (torch.Tensor): Base feature map ``(B, in_channels, h, w)``.

        Returns:
            dict: ``cls`` ``(B, out_channels)``, and ``patch`` ``(B, h*w, out_channels)`` if
            ``return_patch_tokens``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects a (B, {self.in_channels}, h, w) map, '
                             f'got {tuple(x.shape)}.')
        if self.input_proj is not None:
            x = self.input_proj(x)
        pooled, tokens = self.mix(x)
        out = dict(cls=self.norm(pooled))
        if self.return_patch_tokens:
            out['patch'] = self.norm(tokens)
        return out
