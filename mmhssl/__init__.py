"""Heterogeneous Self-Supervised Learning (HSSL) for OpenMMLab.

Importing the package only registers: every mmhssl class into mmpretrain's registries, the
``'atomic_local'`` file backend and the ``mmhssl://NAME`` model-zoo checkpoint scheme, so configs
only need ``custom_imports=dict(imports=['mmhssl'])`` (downstream configs add
``'mmhssl.downstream'``, which registers the simple feature pyramid and the layer-decay constructor
into mmdet's/mmseg's registries). It changes nothing else in mmengine, mmcv, mmdet or mmseg; scripts
that resume training checkpoints opt in to the safe loader with
:func:`mmhssl.utils.use_safe_checkpoint_loader`.
"""
from . import apis, datasets, engine, models, utils  # noqa: F401
from .version import __version__

__all__ = ['__version__']
