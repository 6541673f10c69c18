"""An optimizer constructor for self-distillation: the student is optimized, the EMA teacher not."""
import inspect
from typing import List, Optional

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StudentOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`~mmengine.optim.DefaultOptimWrapperConstructor` that leaves the EMA teacher out.

    The teacher (``model.teacher``, see :class:`~mmhssl.models.utils.EMATeacherMixin`) changes
    only through the exponential moving average and its parameters have ``requires_grad=False``.
    mmengine's constructor would visit each of them and log one "is skipped since its
    requires_grad=False" warning per tensor, hundreds of warnings that ask for no action. This
    constructor does not hand the teacher to the optimizer at all and logs one line saying so.
    Every other parameter is grouped exactly as by the default constructor (``paramwise_cfg``
    with ``flat_decay_mult``, ``custom_keys``, ...); a frozen parameter outside the teacher still
    gets mmengine's warning, because freezing a student parameter is usually a mistake.

    Models without a ``teacher`` module are handled exactly as by the default constructor.

    Example:
        >>> optim_wrapper = dict(type='SSLOptimWrapper',
        >>>                      constructor='StudentOptimWrapperConstructor',
        >>>                      optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04),
        >>>                      paramwise_cfg=dict(flat_decay_mult=0.0))
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = getattr(model, 'module', model)  # unwrap DDP and friends
        teacher = getattr(model, 'teacher', None)
        self._teacher: Optional[nn.Module] = teacher if isinstance(teacher, nn.Module) else None
        if self._teacher is None:
            return super().__call__(model)
        num = sum(p.numel() for p in self._teacher.parameters())
        print_log(
            f'{type(self).__name__}: the EMA teacher ({num:,} parameters) is not optimized; '
            'it follows the student by moving average.',
            logger='current')
        if self.paramwise_cfg:
            return super().__call__(model)  # add_params() below skips the teacher
        # Without paramwise options mmengine passes model.parameters(), the teacher included.
        teacher_ids = {id(p) for p in self._teacher.parameters()}
        params = [p for p in model.parameters() if id(p) not in teacher_ids]
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(optimizer_cls)
        # Some optimizers name their first argument differently (e.g. ``model_params``).
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        optimizer_cfg[first_arg] = params
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        """Add ``module``'s parameters as the default constructor does, except the teacher's."""
        if module is getattr(self, '_teacher', None):
            return
        super().add_params(params, module, prefix=prefix, **kwargs)
