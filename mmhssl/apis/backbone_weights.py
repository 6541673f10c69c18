"""Finding the base model's weights in a checkpoint, and loading them strictly."""
from typing import Dict, Iterable, Optional, Type

import torch
from torch import nn

#: Where a training checkpoint of ours keeps each base model.
PARTS = {'teacher': 'teacher.backbone.', 'student': 'backbone.'}


class MissingEntryError(KeyError):
    """A checkpoint lacks backbone weights, or a config lacks what evaluation needs.

    A ``KeyError`` whose message prints unquoted.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def state_dict_of(checkpoint) -> Dict[str, torch.Tensor]:
    """The ``state_dict`` of a checkpoint, or the checkpoint itself if it is a bare state dict.

    Raises:
        MissingEntryError: The checkpoint holds neither.
    """
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        return checkpoint['state_dict']
    if isinstance(checkpoint, dict) and all(torch.is_tensor(v) for v in checkpoint.values()):
        return checkpoint
    raise MissingEntryError('The checkpoint holds neither a "state_dict" nor a plain dict of '
                            'tensors, so it has no backbone weights.')


def with_prefix(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """The entries under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def backbone_state(checkpoint,
                   part: str = 'teacher',
                   own_keys: Optional[Iterable[str]] = None) -> Dict[str, torch.Tensor]:
    """Find the backbone weights in a loaded checkpoint, whatever its layout.

    Accepted layouts, in this order: a training checkpoint of ours (``teacher.backbone.*`` and
    ``backbone.*``), a backbone exported by :func:`mmhssl.apis.export_backbone` or any mmpretrain
    checkpoint (``backbone.*``), and a bare backbone state dict.

    Args:
        checkpoint: The loaded checkpoint or its state dict.
        part (str): ``'teacher'`` or ``'student'`` for training checkpoints; other layouts hold a
            single backbone. Defaults to ``'teacher'``.
        own_keys (Iterable[str], optional): The backbone's own names; a bare state dict must share
            at least one. Defaults to None (any bare state dict is accepted).

    Returns:
        dict: The weights with the backbone's own (unprefixed) names.

    Raises:
        MissingEntryError: No backbone weights were found; the message lists what the checkpoint
            holds.
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {sorted(PARTS)}, got {part!r}.')
    state = state_dict_of(checkpoint)
    for prefix in (PARTS[part], 'backbone.'):
        found = with_prefix(state, prefix)
        if found:
            return found
    if own_keys is None or set(own_keys) & set(state):
        return dict(state)
    parts = sorted({k.split('.')[0] for k in state})
    raise MissingEntryError(f'The checkpoint has no backbone weights: no keys start with '
                            f'{PARTS[part]!r} or "backbone." and none match the backbone\'s own '
                            f'names; its top-level parts are {parts}.')


def load_strictly(module: nn.Module,
                  state: Dict[str, torch.Tensor],
                  source: str,
                  what: str,
                  error: Type[Exception] = ValueError) -> None:
    """``module.load_state_dict(state)`` where any missing or unexpected weight is an error.

    Only the module's pretraining-only parameters (its ``pretrain_only_keys``, e.g. the mask
    token of :class:`~mmhssl.models.MaskedVisionTransformer`) may be absent or extra: a partly
    random model would be silently wrong.

    Args:
        module (nn.Module): Where to load.
        state (dict): The weights.
        source (str): The weights' origin, for messages (e.g. a path).
        what (str): The module, for messages (e.g. ``'the backbone of NAME'``).
        error (type): Exception raised on a mismatch. Defaults to ``ValueError``.
    """
    prefix = f'The weights in {source} do not fit {what}:'
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches are raised even when strict=False
        detail = next((line.strip() for line in str(e).splitlines() if 'size mismatch' in line),
                      str(e).splitlines()[0])
        raise error(f'{prefix} {detail} Was it trained with another config?') from None
    optional = getattr(module, 'pretrain_only_keys', ())
    missing = [k for k in missing if k not in optional]
    unexpected = [k for k in unexpected if k not in optional]
    if missing or unexpected:
        raise error(f'{prefix} missing {missing[:8]} ({len(missing)}), unexpected '
                    f'{unexpected[:8]} ({len(unexpected)}). Was it trained with another config?')
