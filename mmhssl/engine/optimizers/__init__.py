from .hssl_optim_wrapper import SSLAmpOptimWrapper, SSLOptimWrapper, clip_grad_per_param_

__all__ = ['SSLOptimWrapper', 'SSLAmpOptimWrapper', 'clip_grad_per_param_']
