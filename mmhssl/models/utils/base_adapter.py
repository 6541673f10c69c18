"""The one adapter between a base model's output geometry and the auxiliary heads."""
from typing import NamedTuple, Optional, Tuple

import torch
from mmpretrain.models.backbones import ResNet
from torch import nn

#: What a base model can hand to an auxiliary head, in words (used in error messages).
GEOMETRIES = {
    'token_grid': 'a token grid (class token + h*w patch tokens)',
    'feature_map': 'a (B, C, h, w) feature map',
    'vector': 'a pooled (B, C) vector',
}
AUX_INPUTS = ('pre_norm', 'post_norm')


class BaseFeatures(NamedTuple):
    """What one forward pass of the base model provides.

    Attributes:
        cls (Tensor): ``(B, C)`` image-level output: the normed class token of a transformer, the
            global average of a CNN's last feature map, or the pooled vector itself.
        tokens (Tensor | None): ``(B, 1 + N, C)`` normed tokens, class token first (transformer
            bases only; the patch tokens feed masked image modeling).
        aux_input (Tensor): ``(B, C, h, w)`` map for the auxiliary head (``(B, C, 1, 1)`` for a
            pooled base).
    """
    cls: torch.Tensor
    tokens: Optional[torch.Tensor]
    aux_input: torch.Tensor


class BaseAdapter:
    """Reads any supported base model into :class:`BaseFeatures`.

    Every auxiliary head takes a ``(B, C, h, w)`` map and declares, in ``input_types``, which base
    geometries it accepts; this adapter is the only code that knows how each base produces that
    map, so no base/head pair needs special handling:

    * ``token_grid`` — :class:`~mmhssl.models.MaskedVisionTransformer`: the patch tokens (class
      token dropped) reshaped row-major to ``(B, C, h, w)``; taken before the final LayerNorm
      (``aux_input='pre_norm'``, the reference) or after it (``'post_norm'``).
    * ``feature_map`` — mmpretrain ``ResNet`` family: the last stage's map, unchanged. A CNN has
      no separate final norm, so only ``'post_norm'`` (its output) exists.
    * ``vector`` — a base that pools its output (mmpretrain ``VisionTransformer`` with
      ``out_type='cls_token'`` or ``'avg_featmap'``): the vector as a ``1 x 1`` map, usable only
      by heads that accept vectors (the MLP head).

    It holds no parameters and no reference to the base, so the student and the teacher share it.

    Args:
        backbone (nn.Module): The base model.
        aux_input (str, optional): ``'pre_norm'`` or ``'post_norm'``. Defaults to None:
            ``'pre_norm'`` for transformer bases, ``'post_norm'`` otherwise.
    """

    def __init__(self, backbone: nn.Module, aux_input: Optional[str] = None) -> None:
        self.base_name = type(backbone).__name__
        self.supports_mask = False
        self.stage_index = -1
        if hasattr(backbone, 'forward_tokens'):
            self.geometry, self.channels = 'token_grid', backbone.embed_dims
            self.supports_mask = getattr(backbone, 'mask_token', None) is not None
        elif isinstance(backbone, ResNet):
            last = backbone.num_stages - 1
            if last not in backbone.out_indices:
                raise ValueError(f'{self.base_name} base: out_indices={backbone.out_indices} does '
                                 f'not include the last stage; set out_indices=({last}, ).')
            self.geometry, self.channels = 'feature_map', backbone.feat_dim
            self.stage_index = list(backbone.out_indices).index(last)
        elif getattr(backbone, 'out_type', None) in ('cls_token', 'avg_featmap'):
            self.geometry, self.channels = 'vector', backbone.embed_dims
        else:
            raise TypeError(
                f'HSSLAlgorithm: {self.base_name} is not a supported base model. Use '
                'MaskedVisionTransformer, an mmpretrain ResNet, or a VisionTransformer with '
                "out_type='cls_token' or 'avg_featmap'.")
        if aux_input is None:
            aux_input = 'pre_norm' if self.geometry == 'token_grid' else 'post_norm'
        if aux_input not in AUX_INPUTS:
            raise ValueError(f'aux_input must be one of {AUX_INPUTS}, got {aux_input!r}.')
        if aux_input == 'pre_norm' and self.geometry != 'token_grid':
            raise ValueError(f"aux_input='pre_norm' needs a transformer base; {self.base_name} has "
                             "no final norm to skip. Use aux_input='post_norm' (or None).")
        self.aux_input = aux_input

    def check_aux_head(self, head: nn.Module) -> None:
        """Fail at build time, naming both modules, if ``head`` cannot read this base's output."""
        aux = type(head).__name__
        accepted: Tuple[str, ...] = tuple(getattr(head, 'input_types', ()))
        if self.geometry not in accepted:
            wanted = ' or '.join(GEOMETRIES.get(g, g) for g in accepted) or 'nothing declared'
            raise TypeError(f'HSSLAlgorithm: auxiliary head {aux} takes {wanted}, but base '
                            f'{self.base_name} produces {GEOMETRIES[self.geometry]}. Pick a '
                            f'head whose input_types include {self.geometry!r}, or a base that '
                            'keeps its spatial output.')
        if getattr(head, 'in_channels', None) != self.channels:
            raise ValueError(
                f'HSSLAlgorithm: auxiliary head {aux} expects {head.in_channels} channels but '
                f'backbone {self.base_name} produces {self.channels}; set '
                f'neck.in_channels={self.channels}.')

    def __call__(self,
                 backbone: nn.Module,
                 x: torch.Tensor,
                 mask: Optional[torch.Tensor] = None) -> BaseFeatures:
        """Run ``backbone`` (student or teacher copy) on images ``x``.

        Args:
            backbone (nn.Module): A module of the type this adapter was built for.
            x (Tensor): Images ``(B, 3, H, W)``.
            mask (Tensor, optional): Boolean patch mask ``(B, N)`` (transformer bases only).

        Returns:
            BaseFeatures: The base output and the auxiliary head input.
        """
        if self.geometry == 'token_grid':
            pre_norm, tokens, (h, w) = backbone.forward_tokens(x, mask)
            src = pre_norm if self.aux_input == 'pre_norm' else tokens
            grid = src[:, 1:].transpose(1, 2).reshape(src.shape[0], -1, h, w)
            return BaseFeatures(tokens[:, 0], tokens, grid)
        if mask is not None:
            raise ValueError(f'Masked image modeling needs a transformer base with a mask token; '
                             f'{self.base_name} cannot mask its input. Drop mask_cfg from the '
                             'pipeline (use DINOLoss or MoCoV3Loss for this base).')
        out = backbone(x)[self.stage_index]
        if self.geometry == 'feature_map':
            return BaseFeatures(out.mean(dim=(2, 3)), None, out)
        return BaseFeatures(out, None, out[:, :, None, None])
