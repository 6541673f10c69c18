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

    When the optimizer wrapper skipped a non-finite step, the step leaves no trace: the centers
    updated during that iteration are restored, and the teacher is not moved at the next iteration
    (its EMA update belongs to the skipped step).

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

    @staticmethod
    def _centers(model) -> dict:
        loss = getattr(model, 'loss_module', None)
        if loss is None:
            return {}
        return {n: b for n, b in loss.named_buffers() if 'center' in n}

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = get_ori_model(runner.model)
        v = self.values(runner.iter, runner.max_iters, runner.epoch)
        wrapper = runner.optim_wrapper
        skipped = getattr(wrapper, 'last_step_skipped', False)
        model.momentum = 1.0 if skipped else v['momentum']
        self._saved_centers = {n: b.clone() for n, b in self._centers(model).items()}
        loss = model.loss_module
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
        if getattr(runner.optim_wrapper, 'last_step_skipped', False):
            for name, buf in self._centers(get_ori_model(runner.model)).items():
                buf.copy_(self._saved_centers[name])
