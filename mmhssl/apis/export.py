"""Export the base model of a pretraining checkpoint for downstream use."""
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from ..utils.checkpoint import load_checkpoint_file, save_checkpoint_atomic

# Parameters that only exist for pretraining and must not leave the pretraining checkpoint.
PRETRAIN_ONLY_KEYS = ('mask_token', )
PARTS = {'teacher': 'teacher.backbone.', 'student': 'backbone.'}
TARGETS = ('mmpretrain', 'bare')


def extract_backbone(checkpoint: dict, part: str = 'teacher',
                     target: str = 'mmpretrain') -> 'OrderedDict[str, torch.Tensor]':
    """Select the base model's weights from a training checkpoint.

    Args:
        checkpoint (dict): A loaded training checkpoint (with ``state_dict``).
        part (str): ``'teacher'`` (the EMA model, the default for self-distillation) or
            ``'student'``.
        target (str): Key layout: ``'mmpretrain'`` keeps the ``backbone.`` prefix (load with
            ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``); ``'bare'``
            has no prefix (for loaders that ignore ``prefix``).

    Returns:
        OrderedDict: The backbone state dict; auxiliary head, projectors and mask token excluded.

    Raises:
        KeyError: The checkpoint has no state dict or no weights of the requested part.
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {sorted(PARTS)}, got {part!r}.')
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}.')
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise KeyError('The checkpoint has no "state_dict": it is not an mmengine training '
                       'checkpoint.')
    prefix = PARTS[part]
    state = checkpoint['state_dict']
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            if name in PRETRAIN_ONLY_KEYS:
                continue
            out[('backbone.' if target == 'mmpretrain' else '') + name] = value
    if not out:
        found = sorted({k.split('.')[0] for k in state})
        raise KeyError(f'The checkpoint has no {part} backbone (no keys starting with '
                       f'{prefix!r}); its top-level parts are {found}.')
    return out


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def export_backbone(src: str, out: str, part: str = 'teacher', target: str = 'mmpretrain',
                    meta: Optional[Dict] = None) -> Tuple[str, str]:
    """Write a slim ``{state_dict, meta}`` checkpoint named ``<out stem>-<sha256[:8]>.pth``.

    Nothing is written if the source cannot be read or lacks the part.

    Args:
        src (str): Training checkpoint.
        out (str): Output path; the hash prefix is inserted before the extension.
        part (str): See :func:`extract_backbone`. Defaults to ``'teacher'``.
        target (str): See :func:`extract_backbone`. Defaults to ``'mmpretrain'``.
        meta (dict, optional): Extra metadata to store.

    Returns:
        tuple[str, str]: The written path and its full sha256.
    """
    ckpt = load_checkpoint_file(src)
    state = extract_backbone(ckpt, part=part, target=target)
    info = dict(source=osp.basename(src), part=part, target=target)
    info.update(meta or {})
    src_meta = ckpt.get('meta') or {}
    for k in ('epoch', 'iter', 'mmengine_version'):
        if k in src_meta:
            info[k] = src_meta[k]
    stem, ext = osp.splitext(out)
    tmp = f'{stem}.partial{ext or ".pth"}'
    save_checkpoint_atomic(dict(state_dict=state, meta=info), tmp)
    digest = sha256_of(tmp)
    final = f'{stem}-{digest[:8]}{ext or ".pth"}'
    os.replace(tmp, final)
    return final, digest
