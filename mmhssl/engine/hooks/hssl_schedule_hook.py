"""Applies the non-optimizer schedules of self-distillation methods and follows each step."""
from typing import Optional, Sequence

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ..optimizers import sum_on_rank0_
from ..ssl_schedules import cosine, linear_warmup


@HOOKS.register_module()
class HSSLScheduleHook(Hook):
    """Schedules temperatures and last-layer freezing; moves the teacher and centers after a step.

    Values are recomputed from ``runner.iter``/``runner.epoch`` (see
    :mod:`mmhssl.engine.ssl_schedules`), so they need no state of their own and a resumed run
    continues them exactly.

    The teacher and the centers change once per optimizer step, right after it, keyed on the
    optimizer wrapper's step signal (``should_update()`` and ``last_step_skipped`` of
    :class:`~mmhssl.engine.optimizers.SSLOptimWrapper`): batch statistics are collected over an
    accumulation window and applied after the step, and the teacher takes the EMA step with the
    momentum of that iteration (of the window's first one), as iBOT/DINO do after
    ``optimizer.step()``. A step skipped by the non-finite guard leaves no trace: its statistics
    are dropped and the teacher does not move. Statistics of a window still open at a checkpoint
    are saved with it and restored on resume.

    Not mmpretrain's ``EMAHook``/``CosineEMA``: it averages the whole model into a separate eval
    copy with its own momentum convention; our teacher is part of the model the loss reads.

    Args:
        momentum (Sequence[float]): Teacher EMA momentum ``(start, end)``, cosine over all
            iterations. Defaults to ``(0.996, 1.0)``.
        teacher_temp (Sequence[float]): Teacher CLS temperature ``(start, end)``, linear over
            ``warmup_epochs`` then constant. Defaults to ``(0.04, 0.07)``.
        teacher_patch_temp (Sequence[float], optional): Same for the patch term. Defaults to
            ``teacher_temp``.
        warmup_epochs (int): Temperature warm-up length. Defaults to 30.
        freeze_last_layer_epochs (int): Epochs during which the prototype layer
            (``head.last_layer``) gets no update; heads without one ignore it. Defaults to 1.
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
        self._resumed_center: Optional[tuple] = None

    def values(self, it: int, max_iters: int, epoch: int) -> dict:
        """The scheduled values at iteration ``it`` of ``max_iters`` in (0-based) ``epoch``."""
        return dict(
            momentum=cosine(*self.momentum, it, max_iters),
            teacher_temp=linear_warmup(*self.teacher_temp, epoch, self.warmup_epochs),
            teacher_patch_temp=linear_warmup(*self.teacher_patch_temp, epoch, self.warmup_epochs),
            freeze_last_layer=epoch < self.freeze_last_layer_epochs)

    def before_train(self, runner) -> None:
        if not hasattr(runner.optim_wrapper, 'last_step_skipped'):  # the step signal
            raise TypeError('HSSLScheduleHook follows the optimizer steps of optim_wrapper type '
                            'SSLOptimWrapper or SSLAmpOptimWrapper.')
        # Only a resume restores the checkpoint's iteration; load_from starts again at 0.
        if self._resumed_center is not None and self._resumed_center[0] == runner.iter:
            loss = get_ori_model(runner.model).loss_module
            # Saved by rank 0 after sum_on_rank0_: the other ranks continue from zero sums.
            loss.pending_center = {
                name: [t.to(getattr(loss, name).device) * float(get_rank() == 0) for t in pair]
                for name, pair in self._resumed_center[1].items()
            }
        self._resumed_center = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = get_ori_model(runner.model)
        v = self.values(runner.iter, runner.max_iters, runner.epoch)
        loss = model.loss_module
        if hasattr(loss, 'apply_pending_center'):
            loss.defer_center_update = True
        if hasattr(loss, 'teacher_temp'):  # not every objective has temperatures (MoCo v3)
            loss.teacher_temp = v['teacher_temp']
        if hasattr(loss, 'teacher_patch_temp'):
            loss.teacher_patch_temp = v['teacher_patch_temp']
        # Prototype heads (DINO/iBOT) have a last layer to hold still; MoCo v3's projector has none.
        last_layer = getattr(model.head, 'last_layer', None)
        runner.optim_wrapper.frozen_params = (
            list(last_layer.parameters())
            if v['freeze_last_layer'] and last_layer is not None else [])
        runner.message_hub.update_scalar('train/teacher_temp', v['teacher_temp'])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        wrapper, model = runner.optim_wrapper, get_ori_model(runner.model)
        if not wrapper.should_update():
            return  # inside an accumulation window: no step yet, keep collecting batch statistics
        loss = model.loss_module
        if wrapper.last_step_skipped:
            if hasattr(loss, 'discard_pending_center'):
                loss.discard_pending_center()
            return
        if hasattr(loss, 'apply_pending_center'):
            loss.apply_pending_center()
        # The momentum scheduled at the window's first iteration (the step's own iteration without
        # accumulation), so that k accumulated micro-batches equal one k-times larger batch.
        start = runner.iter - runner.iter % wrapper.accumulative_counts
        momentum = self.values(start, runner.max_iters, runner.epoch)['momentum']
        model.update_teacher(momentum)
        runner.message_hub.update_scalar('train/momentum', momentum)

    def after_train_epoch(self, runner) -> None:
        # Epoch checkpoints are written next, by rank 0 only: an accumulation window that goes on
        # into the next epoch gathers what every rank collected so far there.
        if not runner.optim_wrapper.should_update():
            params = runner.optim_wrapper.param_groups
            grads = [p.grad for g in params for p in g['params'] if p.grad is not None]
            pending = getattr(get_ori_model(runner.model).loss_module, 'pending_center', {})
            sum_on_rank0_(grads + [t for pair in pending.values() for t in pair])

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        pending = getattr(get_ori_model(runner.model).loss_module, 'pending_center', None)
        if pending:
            checkpoint.setdefault('meta', {})['pending_center'] = pending

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        if 'pending_center' in meta:
            self._resumed_center = (meta.get('iter'), meta['pending_center'])
