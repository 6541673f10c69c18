"""Finding the base model's weights in a checkpoint, and loading them strictly."""
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type

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


#: The two models of an official (DINO/iBOT/HSSL) training file, each a dict next to the other.
OFFICIAL_PARTS = ('teacher', 'student')


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(torch.is_tensor(v) for v in obj.values())


def find_weights(checkpoint, part: Optional[str] = None) -> Tuple[Dict[str, torch.Tensor], str]:
    """The weights in a loaded checkpoint file, and where they were found.

    Accepted forms, in this order: an official training file with ``teacher`` / ``student`` dicts
    (the requested part, else the teacher), an mmengine checkpoint's ``state_dict``, a release's
    ``model`` dict, and a bare state dict. Names are returned as stored (prefixes included).

    Args:
        checkpoint: The loaded file.
        part (str, optional): ``'teacher'`` or ``'student'`` of an official training file.
            Defaults to None (the teacher when the file has both).

    Returns:
        tuple: The weights and ``'teacher'``, ``'student'``, ``'state_dict'``, ``'model'`` or
        ``'bare state dict'``.

    Raises:
        MissingEntryError: The requested part is not in the file, or the file holds no weights.
    """
    if part is not None and part not in OFFICIAL_PARTS:
        raise ValueError(f'part must be one of {OFFICIAL_PARTS} or None, got {part!r}.')
    if not isinstance(checkpoint, dict):
        raise MissingEntryError(f'The checkpoint is a {type(checkpoint).__name__}, not a dict of '
                                'weights.')
    parts = [p for p in OFFICIAL_PARTS if _is_state_dict(checkpoint.get(p))]
    if parts:
        if part is not None and part not in parts:
            raise MissingEntryError(f'The checkpoint has no {part!r} weights; it holds {parts}.')
        found = part or parts[0]
        return checkpoint[found], found
    for key in ('state_dict', 'model'):
        if _is_state_dict(checkpoint.get(key)):
            return checkpoint[key], key
    if _is_state_dict(checkpoint):
        return checkpoint, 'bare state dict'
    raise MissingEntryError('The checkpoint holds no weights: expected "teacher"/"student", '
                            '"state_dict" or "model" dicts of tensors or a bare state dict; it has '
                            f'keys {sorted(checkpoint)[:10]}.')


def with_prefix(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """The entries under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def backbone_state(checkpoint,
                   part: str = 'teacher',
                   own_keys: Optional[Iterable[str]] = None,
                   exact_part: bool = False) -> Dict[str, torch.Tensor]:
    """Find the backbone weights in a loaded checkpoint, whatever its layout.

    The file's weights are found by :func:`find_weights`; in them, in this order: a training
    checkpoint of ours (``teacher.backbone.*`` and ``backbone.*``), a backbone exported by
    :func:`mmhssl.apis.export_backbone` or any mmpretrain checkpoint (``backbone.*``), and a bare
    backbone state dict.

    Args:
        checkpoint: The loaded checkpoint or its state dict.
        part (str): ``'teacher'`` or ``'student'`` for training checkpoints; other layouts hold a
            single backbone. Defaults to ``'teacher'``.
        own_keys (Iterable[str], optional): The backbone's own names; a bare state dict must share
            at least one. Defaults to None (any bare state dict is accepted).
        exact_part (bool): Accept only the ``part`` of a training checkpoint (as an export must),
            not another layout's single backbone. Defaults to False.

    Returns:
        dict: The weights with the backbone's own (unprefixed) names.

    Raises:
        MissingEntryError: No backbone weights were found; the message lists what the checkpoint
            holds.
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {sorted(PARTS)}, got {part!r}.')
    state, _ = find_weights(checkpoint, part)
    parts = sorted({k.split('.')[0] for k in state})
    found = with_prefix(state, PARTS[part])
    if found:
        return found
    if exact_part:
        raise MissingEntryError(f'The checkpoint has no {part} backbone (no keys starting with '
                                f'{PARTS[part]!r}); its top-level parts are {parts}.')
    found = with_prefix(state, 'backbone.')
    if found:
        return found
    if own_keys is None or set(own_keys) & set(state):
        return dict(state)
    raise MissingEntryError(f'The checkpoint has no backbone weights: no keys start with '
                            f'{PARTS[part]!r} or "backbone." and none match the backbone\'s own '
                            f'names; its top-level parts are {parts}.')


def state_mismatches(
    own: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    may_miss: Sequence[str] = (),
    may_add: Sequence[str] = ()
) -> Dict[str, List[str]]:
    """How weights differ from a model's own: missing and unexpected names, other shapes.

    Args:
        own (Mapping): The model's ``state_dict()``.
        state (Mapping): The weights to load into it.
        may_miss (Sequence[str]): Names (or name prefixes) of the model that may be absent.
        may_add (Sequence[str]): Names (or name prefixes) that may be extra in ``state``.

    Returns:
        dict: ``missing``, ``unexpected`` and ``shapes`` (``'name: checkpoint (..) vs model
        (..)'``) lists; all empty when the weights fit exactly.
    """
    missing = [k for k in own if k not in state and not k.startswith(tuple(may_miss))]
    unexpected = [k for k in state if k not in own and not k.startswith(tuple(may_add))]
    shapes = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}'
        for k, v in own.items()
        if k in state and hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(v.shape)
    ]
    return dict(missing=missing, unexpected=unexpected, shapes=shapes)


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
    optional = tuple(getattr(module, 'pretrain_only_keys', ()))
    own = module.state_dict()
    problems = state_mismatches(own, state, may_miss=optional, may_add=optional)
    prefix = f'The weights in {source} do not fit {what}:'
    if problems['shapes']:
        raise error(f'{prefix} size mismatch for {problems["shapes"][0]}. Was it trained with '
                    'another config?')
    missing, unexpected = problems['missing'], problems['unexpected']
    if missing or unexpected:
        raise error(f'{prefix} missing {missing[:8]} ({len(missing)}), unexpected '
                    f'{unexpected[:8]} ({len(unexpected)}). Was it trained with another config?')
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
