"""Export the base model of a pretraining checkpoint for downstream use."""
import os
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from ..models.backbones.masked_vit import MaskedVisionTransformer
from ..utils.checkpoint import load_checkpoint_file, save_checkpoint_atomic
from ..utils.download import sha256_file
from .backbone_weights import backbone_state
from .layouts import LayoutError, check_arch, rename_vit, vit_arch_info

# target -> (key prefix, ViT key layout). 'mmdet' equals 'mmpretrain' on purpose: mmdet's ResNet
# has mmpretrain's keys, and mmdet has no ViT of its own, so its configs use
# ``type='mmpretrain.VisionTransformer'``; both honour ``init_cfg.prefix='backbone.'``.
# mmseg's VisionTransformer ignores the prefix and names attention as nn.MultiheadAttention does
# (it also needs patch_bias=True, its default drops the patch-embedding bias).
TARGETS = {
    'mmpretrain': ('backbone.', 'mmpretrain'),
    'mmdet': ('backbone.', 'mmpretrain'),
    'mmseg': ('', 'mmseg'),
    'timm': ('', 'timm'),
    'bare': ('', 'mmpretrain'),
}


def to_target(state: Dict[str, torch.Tensor],
              target: str = 'mmpretrain',
              arch: str = 'auto') -> 'OrderedDict[str, torch.Tensor]':
    """Convert mmpretrain-layout backbone weights (no prefix) to a target's key layout.

    Args:
        state (dict): Backbone parameters, mmpretrain names without prefix.
        target (str): One of :data:`TARGETS`. Defaults to ``'mmpretrain'``.
        arch (str): Expected architecture, ``'vit'``, ``'resnet'`` or ``'auto'``.
            Defaults to ``'auto'``.

    Returns:
        OrderedDict: The weights in the target layout.

    Raises:
        LayoutError: Wrong or incomplete architecture, or a parameter the target cannot hold.
    """
    if target not in TARGETS:
        raise ValueError(f'target must be one of {tuple(TARGETS)}, got {target!r}.')
    found = check_arch(state, arch)
    prefix, layout = TARGETS[target]
    if layout != 'mmpretrain':
        if found != 'vit':
            raise LayoutError(f"Target {target!r} is a ViT key layout but the backbone is a "
                              f"{found}; use target 'mmpretrain' (also read by mmseg and mmdet "
                              "ResNets with init_cfg prefix='backbone.').")
        if target == 'mmseg' and 'layers.0.attn.qkv.bias' not in state:
            raise LayoutError("mmseg's VisionTransformer needs qkv biases (in_proj_bias) but the "
                              'backbone has none (missing layers.N.attn.qkv.bias).')
        state, unmapped = rename_vit(state, 'mmpretrain', layout)
        if unmapped:
            raise LayoutError(f'Target {target!r} has no parameter for {", ".join(unmapped)}; '
                              "export with target 'mmpretrain' instead.")
    return OrderedDict((prefix + k, v) for k, v in state.items())


def extract_backbone(checkpoint: dict,
                     part: str = 'teacher',
                     target: str = 'mmpretrain',
                     arch: str = 'auto') -> 'OrderedDict[str, torch.Tensor]':
    """Select the base model's weights from a training checkpoint.

    Args:
        checkpoint (dict): A loaded training checkpoint (with ``state_dict``).
        part (str): ``'teacher'`` (the EMA model, the default for self-distillation) or
            ``'student'``.
        target (str): Key layout (see :data:`TARGETS`): ``'mmpretrain'`` keeps the ``backbone.``
            prefix (load with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=
            'backbone.')`` in mmpretrain, and in mmseg/mmdet configs whose backbone is
            ``mmpretrain.VisionTransformer`` or a ResNet); ``'mmdet'`` is the same layout;
            ``'mmseg'`` is mmseg's own ``VisionTransformer`` (bare keys, as it ignores ``prefix``);
            ``'timm'`` is the timm / official-release layout; ``'bare'`` is mmpretrain without
            prefix.
        arch (str): Expected architecture, ``'vit'``, ``'resnet'`` or ``'auto'``.
            Defaults to ``'auto'``.

    Returns:
        OrderedDict: The backbone state dict; auxiliary head, projectors and mask token excluded.

    Raises:
        KeyError: The checkpoint has no state dict or no weights of the requested part.
        LayoutError: The backbone has another architecture or misses parameters.
    """
    if target not in TARGETS:
        raise ValueError(f'target must be one of {tuple(TARGETS)}, got {target!r}.')
    # Pretraining-only parameters (the mask token) must not leave the pretraining checkpoint.
    out = OrderedDict((k, v) for k, v in backbone_state(checkpoint, part, exact_part=True).items()
                      if k not in MaskedVisionTransformer.pretrain_only_keys)
    return to_target(out, target, arch)


def stable_path(out: str) -> str:
    """The stable name that :func:`write_slim_checkpoint` gives ``out``: ``out``, ``.pth`` added
    when it has no extension."""
    stem, ext = osp.splitext(out)
    return stem + (ext or '.pth')


def _point_stable_name(final: str, stable: str) -> None:
    """Make ``stable`` (same folder) name the file ``final``, replacing an older ``stable``.

    A relative symbolic link shows which hashed file it names and survives moving the folder;
    where the file system has no symbolic links, a copy is written instead.
    """
    tmp = f'{stable}.partial-link'
    if osp.lexists(tmp):
        os.remove(tmp)
    try:
        os.symlink(osp.basename(final), tmp)
    except (OSError, NotImplementedError):
        shutil.copyfile(final, tmp)
    os.replace(tmp, stable)  # atomic: a reader sees the old or the new file, never a partial one


def write_slim_checkpoint(state: Dict[str, torch.Tensor],
                          out: str,
                          meta: Dict,
                          link: bool = True) -> Tuple[str, str]:
    """Write ``{state_dict, meta}`` as ``<out stem>-<sha256[:8]><ext>``, atomically.

    The hash in the name tells exports apart; downstream configs need a name that does not
    change, so ``out`` itself (see :func:`stable_path`) is made to name the new file as well.

    Args:
        state (dict): The weights.
        out (str): Output path; the hash prefix is inserted before the extension.
        meta (dict): Metadata (plain types only, so that safe loaders accept the file).
        link (bool): Also point the stable name ``out`` at the written file (a symbolic link, or
            a copy where links are not supported). Defaults to True.

    Returns:
        tuple[str, str]: The written (hashed) path and its full sha256.

    Raises:
        IsADirectoryError: ``out`` is a folder (nothing is written).
    """
    stem, ext = osp.splitext(out)
    ext = ext or '.pth'
    if link and osp.isdir(stable_path(out)):
        raise IsADirectoryError(f'The output {stable_path(out)!r} is a folder; give a file name '
                                'such as pretrain/hssl_vit-base-p16.pth.')
    tmp = f'{stem}.partial{ext}'
    save_checkpoint_atomic(dict(state_dict=state, meta=meta), tmp)
    digest = sha256_file(tmp)
    final = f'{stem}-{digest[:8]}{ext}'
    os.replace(tmp, final)
    if link:
        _point_stable_name(final, stable_path(out))
    return final, digest


def export_backbone(src: str,
                    out: str,
                    part: str = 'teacher',
                    target: str = 'mmpretrain',
                    meta: Optional[Dict] = None,
                    arch: str = 'auto',
                    link: bool = True) -> Tuple[str, str]:
    """Write a slim ``{state_dict, meta}`` checkpoint named ``<out stem>-<sha256[:8]>.pth``, and
    point ``out`` at it (the stable name downstream configs load).

    Nothing is written if the source cannot be read, lacks the part or has the wrong architecture.

    Args:
        src (str): Training checkpoint.
        out (str): Output path; the hash prefix is inserted before the extension.
        part (str): See :func:`extract_backbone`. Defaults to ``'teacher'``.
        target (str): See :func:`extract_backbone`. Defaults to ``'mmpretrain'``.
        meta (dict, optional): Extra metadata to store.
        arch (str): See :func:`extract_backbone`. Defaults to ``'auto'``.
        link (bool): See :func:`write_slim_checkpoint`. Defaults to True.

    Returns:
        tuple[str, str]: The written (hashed) path and its full sha256.
    """
    ckpt = load_checkpoint_file(src)
    bare = extract_backbone(ckpt, part=part, target='bare', arch=arch)
    state = to_target(bare, target, arch)
    info = dict(source=osp.basename(src), part=part, target=target)
    if check_arch(bare) == 'vit':
        info['arch'] = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vit_arch_info(bare).items()
        }
    info.update(meta or {})
    src_meta = ckpt.get('meta') or {}
    for k in ('epoch', 'iter', 'mmengine_version'):
        if k in src_meta:
            info[k] = src_meta[k]
    return write_slim_checkpoint(state, out, info, link=link)
