from .ssl_optim_wrapper import (NonFiniteStepError, SSLAmpOptimWrapper, SSLOptimWrapper,
                                clip_grad_per_param_, sum_on_rank0_)
from .student_constructor import StudentOptimWrapperConstructor

__all__ = [
    'NonFiniteStepError', 'SSLAmpOptimWrapper', 'SSLOptimWrapper', 'StudentOptimWrapperConstructor',
    'clip_grad_per_param_', 'sum_on_rank0_'
]
