"""Writes the runner's log history into checkpoints in a form the safe loader accepts."""
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ...utils.checkpoint import _plain_history


@HOOKS.register_module()
class PlainHistoryHook(Hook):
    """Stores the message hub's log history as plain arrays in each checkpoint.

    mmengine pickles its ``HistoryBuffer`` objects with a reference to ``getattr``, which no safe
    unpickler can allow, so :func:`~mmhssl.utils.load_checkpoint_file` (and hence a resume with
    :func:`~mmhssl.utils.use_safe_checkpoint_loader`) would refuse the checkpoint. The loader turns
    the plain arrays back into buffers, so a resumed run logs as if it had never stopped.
    """

    priority = 'VERY_LOW'  # after hooks that might still add to the checkpoint

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.update(_plain_history(checkpoint))
