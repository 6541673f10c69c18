"""Optimizer wrappers with DINO's step policy: per-tensor gradient clipping and frozen parameters."""
from typing import Iterable, List, Optional

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


@torch.no_grad()
def clip_grad_per_param_(params: Iterable[torch.Tensor], max_norm: float) -> None:
    """Scale each tensor's gradient so that its own L2 norm is at most ``max_norm``.

    DINO/iBOT clip every parameter tensor separately (``coef = max_norm / (norm + 1e-6)``, applied
    when below 1), unlike ``clip_grad_norm_``'s single global norm. Computed with fused ``foreach``
    kernels; ``tests`` prove it equal to the per-tensor loop.

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


class _SSLStepMixin:
    """Adds ``clip_grad_per_param`` and ``frozen_params`` to an mmengine optimizer wrapper.

    ``frozen_params`` (set every iteration by :class:`~mmhssl.engine.hooks.HSSLScheduleHook`) have
    their gradients dropped before the step, so the optimizer skips them entirely (no momentum, no
    weight decay), exactly as DINO's ``cancel_gradients_last_layer``.
    """

    def __init__(self, *args, clip_grad_per_param: Optional[float] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if clip_grad_per_param is not None and self.clip_grad_kwargs:
            raise ValueError('Set either clip_grad (global norm) or clip_grad_per_param, not both.')
        self.clip_grad_per_param = clip_grad_per_param
        self.frozen_params: List[torch.nn.Parameter] = []

    def _params(self) -> List[torch.Tensor]:
        return [p for g in self.optimizer.param_groups for p in g['params']]

    def step(self, **kwargs) -> None:
        for p in self.frozen_params:
            p.grad = None
        if self.clip_grad_per_param is not None:
            if isinstance(self, AmpOptimWrapper):
                self.loss_scaler.unscale_(self.optimizer)
            clip_grad_per_param_(self._params(), self.clip_grad_per_param)
        super().step(**kwargs)


@OPTIM_WRAPPERS.register_module()
class SSLOptimWrapper(_SSLStepMixin, OptimWrapper):
    """:class:`mmengine.optim.OptimWrapper` with per-tensor clipping and frozen parameters.

    Args:
        clip_grad_per_param (float, optional): Max gradient norm per parameter tensor.
            Defaults to None (no clipping).
        **kwargs: Arguments of :class:`mmengine.optim.OptimWrapper`.
    """


@OPTIM_WRAPPERS.register_module()
class SSLAmpOptimWrapper(_SSLStepMixin, AmpOptimWrapper):
    """:class:`mmengine.optim.AmpOptimWrapper` with per-tensor clipping and frozen parameters.

    Gradients are unscaled before clipping. Args as :class:`SSLOptimWrapper` plus those of
    :class:`mmengine.optim.AmpOptimWrapper` (``dtype='bfloat16'`` recommended on recent GPUs).
    """
