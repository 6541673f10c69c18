"""Key layouts of backbone weights: mmpretrain, mmseg and timm-style (official releases).

The canonical layout is mmpretrain's (keys of ``VisionTransformer`` / ``ResNet`` without prefix).
A ViT's parameters are renamed one to one between the layouts; tensors are never changed, because
the three implementations compute the same functions (pre-norm blocks, one fused qkv projection with
q, k, v stacked in that order and heads contiguous inside each).
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

# One row per ViT parameter: (mmpretrain, timm-style, mmseg VisionTransformer); ``{i}`` is the block
# index and ``{p}`` 'weight' or 'bias'. None means the layout has no such parameter.
VIT_KEYS = (
    ('cls_token', 'cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed', 'pos_embed'),
    ('patch_embed.projection.{p}', 'patch_embed.proj.{p}', 'patch_embed.projection.{p}'),
    ('pre_norm.{p}', 'norm_pre.{p}', 'pre_ln.{p}'),
    ('layers.{i}.ln1.{p}', 'blocks.{i}.norm1.{p}', 'layers.{i}.ln1.{p}'),
    ('layers.{i}.attn.qkv.{p}', 'blocks.{i}.attn.qkv.{p}', 'layers.{i}.attn.attn.in_proj_{p}'),
    ('layers.{i}.attn.proj.{p}', 'blocks.{i}.attn.proj.{p}', 'layers.{i}.attn.attn.out_proj.{p}'),
    ('layers.{i}.attn.gamma1.weight', 'blocks.{i}.ls1.gamma', None),
    ('layers.{i}.ln2.{p}', 'blocks.{i}.norm2.{p}', 'layers.{i}.ln2.{p}'),
    ('layers.{i}.ffn.layers.0.0.{p}', 'blocks.{i}.mlp.fc1.{p}', 'layers.{i}.ffn.layers.0.0.{p}'),
    ('layers.{i}.ffn.layers.1.{p}', 'blocks.{i}.mlp.fc2.{p}', 'layers.{i}.ffn.layers.1.{p}'),
    ('layers.{i}.ffn.gamma2.weight', 'blocks.{i}.ls2.gamma', None),
    ('ln1.{p}', 'norm.{p}', 'ln1.{p}'),
    ('ln2.{p}', 'fc_norm.{p}', None),
)
# Older timm-style releases (BEiT, iBOT with layer scale) name the layer scales gamma_1 / gamma_2.
TIMM_ALIASES = (
    ('blocks.{i}.gamma_1', 'blocks.{i}.ls1.gamma'),
    ('blocks.{i}.gamma_2', 'blocks.{i}.ls2.gamma'),
)
LAYOUTS = ('mmpretrain', 'timm', 'mmseg')

# Per block, the parameters every supported ViT has (mmpretrain names).
VIT_BLOCK_REQUIRED = ('ln1.weight', 'ln1.bias', 'attn.qkv.weight', 'attn.proj.weight',
                      'attn.proj.bias', 'ln2.weight', 'ln2.bias', 'ffn.layers.0.0.weight',
                      'ffn.layers.0.0.bias', 'ffn.layers.1.weight', 'ffn.layers.1.bias')
VIT_REQUIRED = ('cls_token', 'pos_embed', 'patch_embed.projection.weight')
RESNET_REQUIRED = ('conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight')


class LayoutError(ValueError):
    """The weights do not have the architecture or keys that a conversion needs."""


def _pattern(template: str) -> 're.Pattern':
    body = re.escape(template).replace(r'\{i\}', r'(?P<i>\d+)')
    body = body.replace(r'\{p\}', r'(?P<p>weight|bias)')
    return re.compile(f'^{body}$')


def _fill(template: str, match: 're.Match') -> str:
    groups = match.groupdict()
    return template.replace('{i}', groups.get('i') or '').replace('{p}', groups.get('p') or '')


def _rules(src: str, dst: str) -> List[Tuple['re.Pattern', Optional[str]]]:
    a, b = LAYOUTS.index(src), LAYOUTS.index(dst)
    rules = [(_pattern(row[a]), row[b]) for row in VIT_KEYS if row[a] is not None]
    if src == 'timm':
        rules += [(_pattern(old), next(row[b] for row in VIT_KEYS if row[1] == new))
                  for old, new in TIMM_ALIASES]
    return rules


def rename_vit(state: Dict[str, torch.Tensor], src: str,
               dst: str) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Rename ViT parameters from one layout to another.

    Args:
        state (dict): Parameters in the ``src`` layout, without any prefix.
        src (str): One of ``'mmpretrain'``, ``'timm'``, ``'mmseg'``.
        dst (str): One of ``'mmpretrain'``, ``'timm'``, ``'mmseg'``.

    Returns:
        tuple: The renamed parameters, and the keys of ``state`` that have no name in ``dst``
        (in their original order).
    """
    for layout in (src, dst):
        if layout not in LAYOUTS:
            raise ValueError(f'Unknown key layout {layout!r}; choose from {LAYOUTS}.')
    rules = _rules(src, dst)
    out, unmapped = OrderedDict(), []
    for key, value in state.items():
        for pattern, template in rules:
            match = pattern.match(key)
            if match:
                if template is None:
                    unmapped.append(key)
                else:
                    out[_fill(template, match)] = value
                break
        else:
            unmapped.append(key)
    return out, unmapped


def detect_arch(state: Dict[str, torch.Tensor]) -> str:
    """Name the architecture of mmpretrain-layout backbone weights: ``'vit'`` or ``'resnet'``.

    Raises:
        LayoutError: The keys match no supported architecture.
    """
    if any(k in state for k in VIT_REQUIRED) or any(k.startswith('layers.') for k in state):
        return 'vit'
    if any(k in state for k in RESNET_REQUIRED):
        return 'resnet'
    sample = ', '.join(list(state)[:5])
    raise LayoutError(
        'The backbone weights match no supported architecture: a ViT needs '
        f'{", ".join(VIT_REQUIRED)} and layers.N.* keys, a ResNet needs '
        f'{", ".join(RESNET_REQUIRED)}; the weights have {len(state)} keys such as {sample}.')


def check_arch(state: Dict[str, torch.Tensor], arch: str = 'auto') -> str:
    """Check that mmpretrain-layout weights are a complete backbone of the expected architecture.

    Args:
        state (dict): Backbone parameters in the mmpretrain layout, without prefix.
        arch (str): ``'vit'``, ``'resnet'`` or ``'auto'`` (detect). Defaults to ``'auto'``.

    Returns:
        str: The architecture.

    Raises:
        LayoutError: Another architecture, or parameters missing; the message names them.
    """
    if arch not in ('auto', 'vit', 'resnet'):
        raise ValueError(f"arch must be 'auto', 'vit' or 'resnet', got {arch!r}.")
    required = dict(vit=VIT_REQUIRED, resnet=RESNET_REQUIRED)
    found = detect_arch(state)
    if arch != 'auto' and found != arch:
        missing = [k for k in required[arch] if k not in state]
        raise LayoutError(f'Expected a {arch} backbone but the weights are a {found}: missing '
                          f'{", ".join(missing)}.')
    missing = [k for k in required[found] if k not in state]
    if found == 'vit':
        ids = sorted({int(k.split('.')[1]) for k in state if re.match(r'^layers\.\d+\.', k)})
        for i in range(max(ids) + 1 if ids else 0):
            missing += [
                f'layers.{i}.{name}' for name in VIT_BLOCK_REQUIRED
                if f'layers.{i}.{name}' not in state
            ]
        if not ids:
            missing.append('layers.0.*')
    if missing:
        shown = ', '.join(
            missing[:12]) + (f' and {len(missing) - 12} more' if len(missing) > 12 else '')
        raise LayoutError(f'The {found} backbone is incomplete: missing {shown}.')
    return found


def vit_arch_info(state: Dict[str, torch.Tensor]) -> dict:
    """Describe a complete mmpretrain-layout ViT: widths, depth, patch and grid size.

    Returns:
        dict: ``embed_dims``, ``num_layers``, ``feedforward_channels``, ``patch_size``,
        ``grid`` (h, w) of the position embedding, ``layer_scale``, ``pre_norm``,
        ``final_norm`` and ``mmpretrain_arch`` (the matching ``arch`` name or None).
    """
    embed_dims = state['cls_token'].shape[-1]
    num_layers = 1 + max(int(k.split('.')[1]) for k in state if k.startswith('layers.'))
    ffn = state['layers.0.ffn.layers.0.0.weight'].shape[0]
    side = int(round((state['pos_embed'].shape[1] - 1)**0.5))
    names = {
        (192, 12, 768): 'deit-tiny',
        (384, 12, 1536): 'deit-small',
        (768, 12, 3072): 'base',
        (1024, 24, 4096): 'large',
        (1280, 32, 5120): 'huge'
    }
    return dict(
        embed_dims=embed_dims,
        num_layers=num_layers,
        feedforward_channels=ffn,
        patch_size=state['patch_embed.projection.weight'].shape[-1],
        grid=(side, side),
        layer_scale='layers.0.attn.gamma1.weight' in state,
        pre_norm='pre_norm.weight' in state,
        final_norm='ln1.weight' in state,
        mmpretrain_arch=names.get((embed_dims, num_layers, ffn)))
