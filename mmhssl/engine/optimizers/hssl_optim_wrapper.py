"""Optimizer wrappers with DINO's step policy and a guard against non-finite steps."""
from typing import Iterable, List, Optional

import torch
from mmengine.dist import all_reduce
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


class NonFiniteStepError(RuntimeError):
    """Raised when too many optimizer steps in a row had a non-finite loss or gradient."""


class _SSLStepMixin:
    """DINO's step policy on top of an mmengine optimizer wrapper.

    * ``clip_grad_per_param``: per-tensor gradient clipping (see :func:`clip_grad_per_param_`).
    * ``frozen_params`` (set every iteration by :class:`~mmhssl.engine.hooks.HSSLScheduleHook`):
      their gradients are dropped before the step, so the optimizer skips them entirely (no
      momentum, no weight decay), as DINO's ``cancel_gradients_last_layer``.
    * Non-finite guard: a step whose loss or any gradient is not finite (on any rank) is skipped —
      no parameter or optimizer-state change — counted and logged; ``last_step_skipped`` tells the
      schedule hook to skip the teacher and center updates too. After ``max_nonfinite_steps``
      skipped steps in a row, :class:`NonFiniteStepError` stops the run.
    """

    def __init__(self, *args, clip_grad_per_param: Optional[float] = None,
                 max_nonfinite_steps: int = 10, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if clip_grad_per_param is not None and self.clip_grad_kwargs:
            raise ValueError('Set either clip_grad (global norm) or clip_grad_per_param, not both.')
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
        is_amp = isinstance(self, AmpOptimWrapper)
        if is_amp:
            self.loss_scaler.unscale_(self.optimizer)
        finite = self._all_finite()
        self._loss_finite = True
        if not finite:
            self.last_step_skipped = True
            self.nonfinite_steps += 1
            self.consecutive_nonfinite += 1
            if is_amp:
                self.loss_scaler.update(self._scale_update_param)  # lower the fp16 loss scale
            print_log(f'Skipped an optimizer step with a non-finite loss or gradient '
                      f'({self.nonfinite_steps} so far, {self.consecutive_nonfinite} in a row).',
                      logger='current', level=30)
            self.message_hub.update_scalar('train/nonfinite_steps', self.nonfinite_steps)
            if self.consecutive_nonfinite >= self.max_nonfinite_steps:
                raise NonFiniteStepError(
                    f'{self.consecutive_nonfinite} optimizer steps in a row had a non-finite loss or '
                    'gradient. Lower the learning rate, use bf16 instead of fp16, check the data, or '
                    'raise optim_wrapper.max_nonfinite_steps; resume from the last checkpoint.')
            return
        self.last_step_skipped = False
        self.consecutive_nonfinite = 0
        for p in self.frozen_params:
            p.grad = None
        if self.clip_grad_per_param is not None:
            clip_grad_per_param_(self._params(), self.clip_grad_per_param)
        if is_amp:
            self.loss_scaler.step(self.optimizer, **kwargs)
            self.loss_scaler.update(self._scale_update_param)
        else:
            super().step(**kwargs)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['nonfinite_steps'] = self.nonfinite_steps
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self.nonfinite_steps = state_dict.pop('nonfinite_steps', 0)
        super().load_state_dict(state_dict)


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

    Gradients are unscaled before the checks and clipping. Args as :class:`SSLOptimWrapper` plus
    those of :class:`mmengine.optim.AmpOptimWrapper` (``dtype='bfloat16'`` recommended).
    """
