"""Applies the non-optimizer schedules of self-distillation methods every iteration."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ..schedules import cosine, linear_warmup


@HOOKS.register_module()
class HSSLScheduleHook(Hook):
    """Sets the teacher momentum, teacher temperatures and last-layer freezing before each step.

    Values are recomputed from ``runner.iter``/``runner.epoch`` (see :mod:`mmhssl.engine.schedules`),
    so they need no state of their own and a resumed run continues them exactly.

    Args:
        momentum (Sequence[float]): Teacher EMA momentum ``(start, end)``, cosine over all
            iterations. Defaults to ``(0.996, 1.0)``.
        teacher_temp (Sequence[float]): Teacher CLS temperature ``(start, end)``, linear over
            ``warmup_epochs`` then constant. Defaults to ``(0.04, 0.07)``.
        teacher_patch_temp (Sequence[float], optional): Same for the patch term. Defaults to
            ``teacher_temp``.
        warmup_epochs (int): Temperature warm-up length. Defaults to 30.
        freeze_last_layer_epochs (int): Epochs during which the prototype layer
            (``head.last_layer``) gets no update. Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self,
                 momentum: Sequence[float] = (0.996, 1.0),
                 teacher_temp: Sequence[float] = (0.04, 0.07),
                 teacher_patch_temp: Optional[Sequence[float]] = None,
                 warmup_epochs: int = 30,
                 freeze_last_layer_epochs: int = 1) -> None:
        self.momentum = tuple(momentum)
        self.teacher_temp = tuple(teacher_temp)
        self.teacher_patch_temp = tuple(teacher_patch_temp or teacher_temp)
        self.warmup_epochs = warmup_epochs
        self.freeze_last_layer_epochs = freeze_last_layer_epochs

    def values(self, it: int, max_iters: int, epoch: int) -> dict:
        """The scheduled values at iteration ``it`` of ``max_iters`` in (0-based) ``epoch``."""
        return dict(
            momentum=cosine(*self.momentum, it, max_iters),
            teacher_temp=linear_warmup(*self.teacher_temp, epoch, self.warmup_epochs),
            teacher_patch_temp=linear_warmup(*self.teacher_patch_temp, epoch, self.warmup_epochs),
            freeze_last_layer=epoch < self.freeze_last_layer_epochs)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = get_ori_model(runner.model)
        v = self.values(runner.iter, runner.max_iters, runner.epoch)
        model.momentum = v['momentum']
        model.loss_module.teacher_temp = v['teacher_temp']
        model.loss_module.teacher_patch_temp = v['teacher_patch_temp']
        wrapper = runner.optim_wrapper
        if hasattr(wrapper, 'frozen_params'):
            wrapper.frozen_params = (list(model.head.last_layer.parameters())
                                     if v['freeze_last_layer'] else [])
        elif v['freeze_last_layer']:
            raise TypeError('freeze_last_layer_epochs needs optim_wrapper type SSLOptimWrapper or '
                            'SSLAmpOptimWrapper.')
        runner.message_hub.update_scalar('train/momentum', v['momentum'])
        runner.message_hub.update_scalar('train/teacher_temp', v['teacher_temp'])
