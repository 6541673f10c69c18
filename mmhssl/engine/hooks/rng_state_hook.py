"""Saves and restores the random generators' states with each checkpoint."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Stores Python's, numpy's and torch's (CPU and CUDA) generator states in checkpoints.

    mmengine restores model, optimizer and schedulers on resume but re-seeds the generators, so
    drop-path, masks and augmentations drawn in the main process would differ from an uninterrupted
    run. With this hook (and :class:`~mmhssl.datasets.SeededDataset` for data workers) a resumed run
    continues exactly. States are per rank.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: tuple = (None, None)  # (checkpoint iteration, states) until before_train
        self._deferred = None  # states to restore at the first iteration

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(
            python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint.setdefault('meta', {})['rng_state'] = _to_plain(state)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        self._pending = (meta.get('iter'), meta.get('rng_state'))

    def before_train(self, runner) -> None:
        it, state = self._pending
        self._pending = (None, None)
        # Only a resume continues the random streams: it restores the checkpoint's iteration,
        # whereas load_from (weights only) starts again at 0.
        if state is None or it != runner.iter:
            return
        loader = runner.train_dataloader
        if getattr(loader, 'persistent_workers', False) and loader.num_workers > 0:
            # Persistent workers: the loader draws their base seed from torch's generator once, when
            # the first epoch of a sitting starts. The uninterrupted run drew it long before this
            # point, so restore the states after that draw, or the resumed run makes one draw more.
            self._deferred = state
        else:
            _restore(state)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._deferred is not None:
            _restore(self._deferred)
            self._deferred = None


def _restore(state: dict) -> None:
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _to_plain(state: dict) -> dict:
    """Only tensors, arrays, ints and strings, so that the safe loader accepts the checkpoint."""
    version, internal, gauss = state['python']
    name, keys, pos, has_gauss, cached = state['numpy']
    out = dict(
        python=(version, list(internal), gauss),
        numpy=(str(name), np.asarray(keys), int(pos), int(has_gauss), float(cached)),
        torch=state['torch'])
    if 'cuda' in state:
        out['cuda'] = state['cuda']
    return out
