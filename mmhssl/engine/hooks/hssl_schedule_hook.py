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

    Centers and the teacher change once per optimizer step: batch statistics are collected over an
    accumulation window and applied after the step, the EMA update happens at the first micro-batch
    after it. A step skipped by the non-finite guard leaves no trace: its statistics are dropped and
    the teacher does not move for it.

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
        wrapper = runner.optim_wrapper
        # The teacher moves once per optimizer step, at the first micro-batch after it, and not
        # after a skipped step: with accumulation, k micro-batches then equal one larger batch.
        window_start = wrapper._inner_count % wrapper._accumulative_counts == 0
        skipped = getattr(wrapper, 'last_step_skipped', False)
        model.momentum = v['momentum'] if window_start and not skipped else 1.0
        loss = model.loss_module
        if hasattr(loss, 'apply_pending_center'):
            loss.defer_center_update = True
        if hasattr(loss, 'teacher_temp'):  # not every objective has temperatures (MoCo v3)
            loss.teacher_temp = v['teacher_temp']
        if hasattr(loss, 'teacher_patch_temp'):
            loss.teacher_patch_temp = v['teacher_patch_temp']
        if hasattr(wrapper, 'frozen_params'):
            wrapper.frozen_params = (list(model.head.last_layer.parameters())
                                     if v['freeze_last_layer'] else [])
        elif v['freeze_last_layer']:
            raise TypeError('freeze_last_layer_epochs needs optim_wrapper type SSLOptimWrapper or '
                            'SSLAmpOptimWrapper.')
        runner.message_hub.update_scalar('train/momentum', v['momentum'])
        runner.message_hub.update_scalar('train/teacher_temp', v['teacher_temp'])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        wrapper, loss = runner.optim_wrapper, get_ori_model(runner.model).loss_module
        if not hasattr(loss, 'apply_pending_center') or not wrapper.should_update():
            return  # inside an accumulation window: keep collecting batch statistics
        if getattr(wrapper, 'last_step_skipped', False):
            loss.discard_pending_center()
        else:
            loss.apply_pending_center()
