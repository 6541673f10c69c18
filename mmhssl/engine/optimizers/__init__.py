from .hssl_optim_wrapper import (NonFiniteStepError, SSLAmpOptimWrapper, SSLOptimWrapper,
                                 clip_grad_per_param_)

__all__ = ['NonFiniteStepError', 'SSLOptimWrapper', 'SSLAmpOptimWrapper', 'clip_grad_per_param_']
from .layer_decay_constructor import BackboneLayerDecayOptimWrapperConstructor  # noqa: F401,E402
