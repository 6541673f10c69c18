from .ssl_optim_wrapper import (NonFiniteStepError, SSLAmpOptimWrapper, SSLOptimWrapper,
                                clip_grad_per_param_, sum_on_rank0_)
from .layer_decay_constructor import BackboneLayerDecayOptimWrapperConstructor
from .student_constructor import StudentOptimWrapperConstructor

__all__ = [
    'BackboneLayerDecayOptimWrapperConstructor', 'NonFiniteStepError', 'SSLAmpOptimWrapper',
    'SSLOptimWrapper', 'StudentOptimWrapperConstructor', 'clip_grad_per_param_',
    'sum_on_rank0_'
]
