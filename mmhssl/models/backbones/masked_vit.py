"""Vision Transformer whose student input can be masked (iBOT-style MIM)."""
from typing import Optional, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn
from torch.utils.checkpoint import checkpoint


@MODELS.register_module()
class MaskedVisionTransformer(VisionTransformer):
    """mmpretrain's :class:`VisionTransformer` with a learned mask token and two outputs.

    Masked patches are replaced by ``mask_token`` after the patch embedding and *before* the
    position embedding is added, as in iBOT. Apart from ``mask_token`` the parameters and their
    names are those of the plain ``VisionTransformer``, so the trained weights load into it
    unchanged.
    Objectives without masked image modeling (DINO, MoCo v3) build it with
    ``with_mask_token=False``, so that no parameter goes unused.

    :meth:`forward_tokens` returns both the last block's tokens before the final norm (fed to an
    auxiliary head) and after it (the base model's output). :meth:`forward` keeps the plain
    ``VisionTransformer`` behaviour for feature extraction.

    Args:
        img_size (int | tuple): Expected input size; must be divisible by ``patch_size``.
            Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        with_mask_token (bool): Create the learned mask token (needed for masked inputs).
            Defaults to True.
        init_mode (str): ``'mmpretrain'`` keeps mmpretrain's initialisation of the ViT;
            ``'trunc_normal'`` is the DINO/iBOT/HSSL reference: every Linear truncated normal
            (std 0.02) with zero bias, LayerNorms at weight 1 and bias 0, the patch embedding
            PyTorch's default. Defaults to ``'mmpretrain'``.
        with_cp (bool): Activation checkpointing of the transformer blocks in training: their
            activations are recomputed in the backward pass, trading compute for memory. The
            recomputation replays the RNG state, so losses and gradients are unchanged.
            Defaults to False.
        **kwargs: Other arguments of :class:`mmpretrain.models.VisionTransformer`.
    """

    #: Parameters used only in pretraining: exports leave them out and loaders do not need them.
    pretrain_only_keys = ('mask_token', )

    def __init__(self,
                 img_size=224,
                 patch_size: int = 16,
                 with_mask_token: bool = True,
                 init_mode: str = 'mmpretrain',
                 with_cp: bool = False,
                 **kwargs) -> None:
        if init_mode not in ('mmpretrain', 'trunc_normal'):
            raise ValueError(f'MaskedVisionTransformer: unknown init_mode {init_mode!r}; use '
                             "'mmpretrain' or 'trunc_normal'.")
        sizes = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if any(s % patch_size for s in sizes):
            raise ValueError(
                f'MaskedVisionTransformer: img_size {img_size} is not divisible by patch_size '
                f'{patch_size}; choose a crop size that is a multiple of {patch_size}.')
        if kwargs.get('final_norm') is False:
            raise ValueError('MaskedVisionTransformer needs final_norm=True: the base output is '
                             'the normed token sequence.')
        super().__init__(img_size=img_size, patch_size=patch_size, **kwargs)
        if self.cls_token is None:
            raise ValueError('MaskedVisionTransformer needs with_cls_token=True.')
        self.patch_size = patch_size
        self.with_cp = with_cp
        self.init_mode = init_mode
        self.mask_token = (
            nn.Parameter(torch.zeros(1, 1, self.embed_dims)) if with_mask_token else None)

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        trunc_normal_(self.cls_token, std=0.02)
        if self.init_mode == 'trunc_normal':
            # After super(): mmpretrain's layers re-initialise their own Linears in init_weights,
            # which an init_cfg of this module could not override.
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward_tokens(
            self,
            x: torch.Tensor,
            mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, Tuple[int, int]]:
        """Encode images, optionally masking patches.

        Args:
            x (torch.Tensor): Images, ``(B, C, H, W)`` with H and W divisible by the patch size.
            mask (torch.Tensor, optional): Boolean ``(B, h, w)`` or ``(B, h*w)``; True marks a
                masked patch. Defaults to None (no masking).

        Returns:
            tuple: ``(pre_norm_tokens, tokens, (h, w))``; the tokens are ``(B, 1 + h*w, C)`` with
            the class token first.
        """
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise ValueError(f'Input size {tuple(x.shape[-2:])} is not divisible by the patch size '
                             f'{self.patch_size}.')
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        if mask is not None:
            if self.mask_token is None:
                raise ValueError('MaskedVisionTransformer was built with with_mask_token=False and '
                                 'cannot take masks; set with_mask_token=True for masked image '
                                 'modeling, or drop mask_cfg from the pipeline.')
            mask = mask.reshape(B, -1, 1)
            if mask.shape[1] != x.shape[1]:
                raise ValueError(f'Mask has {mask.shape[1]} entries per image but the input has '
                                 f'{x.shape[1]} patches ({patch_resolution}).')
            x = torch.where(mask.bool(), self.mask_token.to(x.dtype), x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        x = self.pre_norm(x)
        for layer in self.layers:
            if self.with_cp and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x, self.ln1(x), patch_resolution
