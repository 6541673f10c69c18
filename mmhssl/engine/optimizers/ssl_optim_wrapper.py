"""Optimizer wrappers with DINO's step policy and a guard against non-finite steps."""
from typing import Iterable, List, Optional

import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


@torch.no_grad()
def clip_grad_per_param_(params: Iterable[torch.Tensor], max_norm: float) -> None:
    """Scale each tensor's gradient so that its own L2 norm is at most ``max_norm``.

    DINO/iBOT clip every parameter tensor separately (``coef = max_norm / (norm + 1e-6)``, applied
    when below 1), unlike ``clip_grad_norm_``'s single global norm. Computed with fused ``foreach``
    kernels; the tests prove it equal to the per-tensor loop.

    Args:
        params (Iterable[Tensor]): Parameters; those without a gradient are skipped.
        max_norm (float): Maximum norm per tensor.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    coefs = [torch.clamp(max_norm / (n + 1e-6), max=1.0) for n in norms]
    torch._foreach_mul_(grads, coefs)


@torch.no_grad()
def sum_on_rank0_(tensors: Iterable[torch.Tensor]) -> None:
    """In place: rank 0 gets the sum over ranks, the other ranks zero; a no-op in one process.

    Sums over ranks (all-reduces, DDP's gradient average) are unchanged, and rank 0, the one that
    writes checkpoints, then holds everything. Used for what an open accumulation window gathered.
    """
    if get_world_size() == 1:
        return
    for t in tensors:
        all_reduce(t)
        if get_rank() != 0:
            t.zero_()


class NonFiniteStepError(RuntimeError):
    """Raised when too many optimizer steps in a row had a non-finite loss or gradient."""


class _SSLStepMixin:
    """DINO's step policy on top of an mmengine optimizer wrapper.

    * ``clip_grad_per_param``: per-tensor gradient clipping (see :func:`clip_grad_per_param_`).
    * ``frozen_params`` (set every iteration by :class:`~mmhssl.engine.hooks.HSSLScheduleHook`):
      their gradients are dropped before the step, so the optimizer skips them entirely (no
      momentum, no weight decay), as DINO's ``cancel_gradients_last_layer``.
    * Non-finite guard: a step whose loss or any gradient is not finite (on any rank) is skipped —
      no parameter or optimizer-state change — counted and logged. After ``max_nonfinite_steps``
      skipped steps in a row, :class:`NonFiniteStepError` stops the run.
    * Step signal for what must follow the optimizer (teacher EMA, centers): ``should_update()``
      tells whether the latest micro-batch closed an accumulation window (so a step was
      attempted), ``last_step_skipped`` whether that step was skipped.
    * A checkpoint written inside an accumulation window keeps the gradients gathered so far, so a
      resumed run completes the window as the uninterrupted one would.
    """

    def __init__(self,
                 *args,
                 accumulative_counts: int = 1,
                 clip_grad_per_param: Optional[float] = None,
                 max_nonfinite_steps: int = 10,
                 **kwargs) -> None:
        super().__init__(*args, accumulative_counts=accumulative_counts, **kwargs)
        #: Micro-batches per optimizer step; windows start at iterations divisible by it.
        self.accumulative_counts = accumulative_counts
        # Under AMP the parent would unscale a second time before its global clipping.
        if self.clip_grad_kwargs and (clip_grad_per_param is not None
                                      or isinstance(self, AmpOptimWrapper)):
            raise ValueError('Set either clip_grad (global norm) or clip_grad_per_param, not both; '
                             'with AMP only clip_grad_per_param.')
        self.clip_grad_per_param = clip_grad_per_param
        self.max_nonfinite_steps = max_nonfinite_steps
        self.frozen_params: List[torch.nn.Parameter] = []
        self.nonfinite_steps = 0
        self.consecutive_nonfinite = 0
        self.last_step_skipped = False
        self._loss_finite = True

    def _params(self) -> List[torch.Tensor]:
        return [p for g in self.optimizer.param_groups for p in g['params']]

    def update_params(self, loss: torch.Tensor, step_kwargs=None, zero_kwargs=None) -> None:
        self._loss_finite = self._loss_finite and bool(torch.isfinite(loss.detach()).all())
        super().update_params(loss, step_kwargs, zero_kwargs)

    def _all_finite(self) -> bool:
        grads = [p.grad for p in self._params() if p.grad is not None]
        ok = torch.tensor(float(self._loss_finite))
        if grads:
            ok = ok * torch.stack([torch.isfinite(g).all() for g in grads]).all().float().cpu()
        all_reduce(ok, op='min')  # every rank must take the same decision
        return bool(ok.item())

    def step(self, **kwargs) -> None:
        if isinstance(self, AmpOptimWrapper):
            # True gradients for the clipping; the scaler records non-finite ones here and its own
            # step (in the parent's) then skips the update and lowers an fp16 scale.
            self.loss_scaler.unscale_(self.optimizer)
        finite = self._all_finite()
        self._loss_finite = True
        self.last_step_skipped = not finite
        if finite:
            self.consecutive_nonfinite = 0
            for p in self.frozen_params:
                p.grad = None
            if self.clip_grad_per_param is not None:
                clip_grad_per_param_(self._params(), self.clip_grad_per_param)
        else:
            self.nonfinite_steps += 1
            self.consecutive_nonfinite += 1
            print_log(
                f'Skipped an optimizer step with a non-finite loss or gradient '
                f'({self.nonfinite_steps} so far, {self.consecutive_nonfinite} in a row).',
                logger='current',
                level=30)
            self.message_hub.update_scalar('train/nonfinite_steps', self.nonfinite_steps)
            if self.consecutive_nonfinite >= self.max_nonfinite_steps:
                raise NonFiniteStepError(
                    f'{self.consecutive_nonfinite} optimizer steps in a row had a non-finite '
                    'loss or gradient. Lower the learning rate, use bf16 instead of fp16, check '
                    'the data, or raise optim_wrapper.max_nonfinite_steps; resume from the last '
                    'checkpoint.')
            # Without gradients the optimizer leaves every parameter and its state as they are,
            # while the parent step still runs its bookkeeping (a loss scaler lowers its scale).
            self.optimizer.zero_grad(set_to_none=True)
        super().step(**kwargs)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['nonfinite_steps'] = self.nonfinite_steps
        if not self.should_update():  # inside an accumulation window: keep what it gathered
            state['window_grads'] = [p.grad for p in self._params()]
            state['window_loss_finite'] = self._loss_finite
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self.nonfinite_steps = state_dict.pop('nonfinite_steps', 0)
        grads = state_dict.pop('window_grads', None)
        self._loss_finite = state_dict.pop('window_loss_finite', True)
        super().load_state_dict(state_dict)
        if grads is not None:
            # Under DDP they were summed on rank 0 (sum_on_rank0_); the other ranks resume without,
            # so that DDP's final average counts them once.
            for p, g in zip(self._params(), grads):
                p.grad = None if g is None or get_rank() != 0 else g.to(p.device, p.dtype)


@OPTIM_WRAPPERS.register_module()
class SSLOptimWrapper(_SSLStepMixin, OptimWrapper):
    """:class:`mmengine.optim.OptimWrapper` with per-tensor clipping, frozen parameters and a
    non-finite step guard.

    Args:
        clip_grad_per_param (float, optional): Max gradient norm per parameter tensor.
            Defaults to None (no clipping).
        max_nonfinite_steps (int): Stop after this many skipped steps in a row. Defaults to 10.
        **kwargs: Arguments of :class:`mmengine.optim.OptimWrapper`.
    """


@OPTIM_WRAPPERS.register_module()
class SSLAmpOptimWrapper(_SSLStepMixin, AmpOptimWrapper):
    """:class:`mmengine.optim.AmpOptimWrapper` with the :class:`SSLOptimWrapper` step policy.

    Gradients are unscaled before the checks and clipping; a skipped step lowers an fp16 loss
    scale as usual. Global ``clip_grad`` is not supported (``clip_grad_per_param`` is). Args as
    :class:`SSLOptimWrapper` plus those of :class:`mmengine.optim.AmpOptimWrapper`
    (``dtype='bfloat16'`` recommended).
    """
