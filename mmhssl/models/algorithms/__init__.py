from .hssl import HSSLAlgorithm

__all__ = ['HSSLAlgorithm']
from .multi_aux_search import MultiAuxSearch  # noqa: E402
