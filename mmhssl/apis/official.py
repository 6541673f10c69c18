"""Convert official HSSL / iBOT / DINO PyTorch releases (timm-style ViT keys) to our layout."""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed

from ..models.backbones.masked_vit import MaskedVisionTransformer
from ..utils.checkpoint import load_checkpoint_file
from .backbone_weights import find_weights
from .export import to_target, write_slim_checkpoint
from .layouts import LayoutError, check_arch, rename_vit, vit_arch_info

#: Checkpoint layouts a model-zoo entry may declare as its ``Weights Format``.
CHECKPOINT_FORMATS = ('mmhssl', 'official')


def convert_official(
        checkpoint,
        part: Optional[str] = None,
        img_size: Optional[int] = None) -> Tuple['OrderedDict[str, torch.Tensor]', Dict]:
    """Convert an official timm-style ViT checkpoint to mmpretrain keys (no prefix).

    Args:
        checkpoint: The loaded official file (see
            :func:`~mmhssl.apis.backbone_weights.find_weights`).
        part (str, optional): ``'teacher'`` or ``'student'``. Defaults to None (teacher if any).
        img_size (int, optional): Resize the position embedding to the patch grid of this input
            size (bicubic, class token kept). Defaults to None (keep the released grid; mmpretrain
            resizes at load time too).

    Returns:
        tuple: The weights, and a report dict with ``source`` (where the weights were found),
        ``mapped`` (number of parameters), ``unmapped`` (every key that was not converted, with its
        original name), ``arch`` (see :func:`~mmhssl.apis.layouts.vit_arch_info`) and ``grid``
        (``(old, new)`` when the position embedding was resized).

    Raises:
        KeyError: The requested part is missing.
        LayoutError: The weights are not a complete ViT.
    """
    raw, source = find_weights(checkpoint, part)

    def strip(key: str) -> str:
        return key[len('module.'):] if key.startswith('module.') else key

    # In a training checkpoint the ViT sits under 'backbone.' next to the heads; a released
    # backbone has bare keys.
    wrapped = any(strip(k).startswith('backbone.') for k in raw)
    unmapped: List[str] = []
    stripped, original = OrderedDict(), {}
    for key, value in raw.items():
        name = strip(key)
        if wrapped and not name.startswith('backbone.'):
            unmapped.append(key)  # projection heads, auxiliary head
            continue
        name = name[len('backbone.'):] if wrapped else name
        stripped[name], original[name] = value, key
    if not stripped:
        raise LayoutError(f'No backbone weights in the {source}.')
    state, rest = rename_vit(stripped, 'timm', 'mmpretrain')
    unmapped += [original[k] for k in rest]
    try:
        check_arch(state, 'vit')
    except LayoutError as e:
        raise LayoutError(f'The {source} is not a complete timm-style ViT ({e}) Keys that did not '
                          f'map: {", ".join(unmapped[:10]) or "none"}.') from None
    info = vit_arch_info(state)
    report = dict(source=source, mapped=len(state), unmapped=unmapped, grid=None)
    if img_size is not None:
        new = (img_size // info['patch_size'], ) * 2
        if img_size % info['patch_size']:
            raise ValueError(f'img_size {img_size} is not a multiple of the patch size '
                             f'{info["patch_size"]}.')
        state['pos_embed'] = resize_pos_embed(
            state['pos_embed'], info['grid'], new, mode='bicubic', num_extra_tokens=1)
        report['grid'] = (tuple(info['grid']), new)
        info['grid'] = new
    report['arch'] = info
    return state, report


def import_official(src: str,
                    out: str,
                    part: Optional[str] = None,
                    target: str = 'mmpretrain',
                    img_size: Optional[int] = None) -> Tuple[str, str, Dict]:
    """Convert an official release file and write a slim checkpoint in ``target``'s layout.

    Nothing is written when the file cannot be read or is not a complete ViT.

    Args:
        src (str): The official checkpoint.
        out (str): Output path; ``-<sha256[:8]>`` is inserted before the extension, and ``out``
            itself names the written file (see :func:`~mmhssl.apis.export.write_slim_checkpoint`).
        part (str, optional): See :func:`convert_official`.
        target (str): A target of :func:`mmhssl.apis.export.to_target`.
            Defaults to ``'mmpretrain'``.
        img_size (int, optional): See :func:`convert_official`.

    Returns:
        tuple: The written path, its sha256 and the conversion report.
    """
    state, report = convert_official(load_checkpoint_file(src), part=part, img_size=img_size)
    state = OrderedDict(
        (k, v) for k, v in state.items() if k not in MaskedVisionTransformer.pretrain_only_keys)
    converted = to_target(state, target, 'vit')
    arch = {k: (list(v) if isinstance(v, tuple) else v) for k, v in report['arch'].items()}
    meta = dict(
        source=osp.basename(src),
        part=report['source'],
        target=target,
        arch=arch,
        converted_from='official timm-style release',
        unmapped=list(report['unmapped']))
    path, digest = write_slim_checkpoint(converted, out, meta)
    return path, digest, report


def convert_checkpoint_format(checkpoint: dict, checkpoint_format: str) -> dict:
    """Bring a loaded checkpoint into mmhssl's key layout.

    Args:
        checkpoint (dict): As loaded by :func:`~mmhssl.utils.load_checkpoint_file`.
        checkpoint_format (str): ``'mmhssl'`` (returned as is) or ``'official'`` (converted by
            :func:`convert_official`).

    Returns:
        dict: The checkpoint in mmhssl's layout; an official one becomes
        ``{'state_dict': {'backbone.*': ...}, 'meta': ...}`` (the base model only: the teacher
        when the file has both).
    """
    if checkpoint_format not in CHECKPOINT_FORMATS:
        raise ValueError(f'checkpoint_format must be one of {CHECKPOINT_FORMATS}, got '
                         f'{checkpoint_format!r}.')
    if checkpoint_format == 'mmhssl':
        return checkpoint
    state, report = convert_official(checkpoint)
    return dict(
        state_dict=OrderedDict(('backbone.' + k, v) for k, v in state.items()),
        meta=dict(converted_from='official', source=report['source']))
