"""Heterogeneous Self-Supervised Learning (HSSL) for OpenMMLab.

Importing the package registers every mmhssl class into mmpretrain's registries and installs the safe
checkpoint loader, so configs only need ``custom_imports=dict(imports=['mmhssl'])``.
"""
from .version import __version__
from .utils import compat  # noqa: F401  (must run before any checkpoint is read)
from . import datasets, engine, models  # noqa: F401,E402

__all__ = ['__version__']
from . import apis  # noqa: F401,E402  (registers the mmhssl:// checkpoint scheme)
