"""Heterogeneous Self-Supervised Learning (HSSL) for OpenMMLab.

Importing the package registers every mmhssl class into mmpretrain's registries (and mmdet's/mmseg's
where installed), installs the safe checkpoint loader and the ``mmhssl://NAME`` model-zoo scheme, so
configs only need ``custom_imports=dict(imports=['mmhssl'])``.
"""
from .version import __version__
from .utils import compat  # noqa: F401  (must run before any checkpoint is read)
from . import apis, datasets, engine, models  # noqa: F401,E402

__all__ = ['__version__']
