from .hssl import HSSLAlgorithm

__all__ = ['HSSLAlgorithm']
