"""Teacher (exponential moving average) utilities."""
import copy
from typing import List, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def make_teacher(student: nn.Module) -> nn.Module:
    """Return a frozen deep copy of ``student`` to be updated by EMA only.

    Args:
        student (nn.Module): The module to copy.

    Returns:
        nn.Module: The copy, in eval mode (no drop-path or dropout), without gradients.
    """
    teacher = copy.deepcopy(student)
    teacher.requires_grad_(False)
    teacher.eval()
    return teacher


def _float_tensors(module: nn.Module) -> List[torch.Tensor]:
    tensors = [p.data for p in module.parameters()]
    tensors += [b for b in module.buffers() if b.is_floating_point()]
    return tensors


@torch.no_grad()
def ema_update_(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In-place ``teacher = momentum * teacher + (1 - momentum) * student``.

    All parameters and floating-point buffers are updated with one fused ``foreach`` kernel per
    dtype and device instead of a Python loop over tensors. Integer buffers (e.g. BN's counters)
    are copied.

    Args:
        teacher (nn.Module): The EMA copy, updated in place.
        student (nn.Module): The trained module; must have the same structure.
        momentum (float): Weight of the old teacher value, in [0, 1].
    """
    t = _float_tensors(teacher)
    s = _float_tensors(student)
    if len(t) != len(s):
        raise ValueError(f'Teacher and student differ in structure: {len(t)} vs {len(s)} tensors.')
    if momentum < 1.0:
        torch._foreach_lerp_(t, [x.detach().to(y.dtype) for x, y in zip(s, t)], 1.0 - momentum)
    for tb, sb in zip(teacher.buffers(), student.buffers()):
        if not tb.is_floating_point():
            tb.copy_(sb)


class EMATeacherMixin:
    """Teacher behaviour shared by the self-distillation algorithms.

    The host (a ``BaseSelfSupervisor``) keeps ``self.teacher``, an ``nn.ModuleDict`` of EMA copies
    named like the student parts they follow, and ``self.momentum``, the momentum used when no
    schedule gives one. The loss only reads the teacher; :meth:`update_teacher` moves it after each
    optimizer step (:class:`~mmhssl.engine.hooks.HSSLScheduleHook` in the runner).
    """

    def init_weights(self) -> None:
        super().init_weights()
        # The teacher starts as an exact copy of the initialised (or pretrained) student.
        for name, module in self.teacher.items():
            module.load_state_dict(getattr(self, name).state_dict())

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # never drop-path or dropout in the teacher
        if mode:
            # Batch norms of the momentum encoder normalise with batch statistics, as in MoCo v3
            # and DINO (ResNet); its running statistics would lag behind the EMA weights.
            for m in self.teacher.modules():
                if isinstance(m, _BatchNorm):
                    m.train()
        return self

    @torch.no_grad()
    def update_teacher(self, momentum: Optional[float] = None) -> None:
        """EMA step ``teacher = m * teacher + (1 - m) * student``.

        The only place the teacher changes; called once after each optimizer step taken, as in
        iBOT/DINO.

        Args:
            momentum (float, optional): ``m``, the scheduled momentum of the iteration whose step
                was taken. Defaults to ``self.momentum``.
        """
        m = self.momentum if momentum is None else momentum
        for name, module in self.teacher.items():
            ema_update_(module, getattr(self, name), m)
