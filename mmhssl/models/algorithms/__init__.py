from .hssl import HSSLAlgorithm
from .multi_aux_search import MultiAuxSearch

__all__ = ['HSSLAlgorithm', 'MultiAuxSearch']
