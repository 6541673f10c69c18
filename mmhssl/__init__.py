"""Heterogeneous Self-Supervised Learning (HSSL) for OpenMMLab.

Importing the package only registers: every mmhssl class into mmpretrain's registries, the zoo's
names into mmpretrain's ``ModelHub``, the ``'atomic_local'`` file backend and the ``mmhssl://NAME``
model-zoo checkpoint scheme, so configs
only need ``custom_imports=dict(imports=['mmhssl'])`` (downstream configs add
``'mmhssl.downstream'``, which registers the simple feature pyramid and the layer-decay constructor
into mmdet's/mmseg's registries). It changes nothing else in mmengine, mmcv, mmdet or mmseg; scripts
that resume training checkpoints opt in to the safe loader with
:func:`mmhssl.utils.use_safe_checkpoint_loader`.
"""
import warnings

# mmcv-lite (the light environment of the demo) warns on import, in every tool and process, that
# its compiled ops are missing; only mmdet and mmseg use them, and they do not import without them.
# The warning is ignored during these imports only; filters the libraries install meanwhile stay.
_before = list(warnings.filters)
with warnings.catch_warnings():
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    _ours = warnings.filters[0]
    from . import apis, datasets, engine, models, utils  # noqa: F401,E402
    _installed = [f for f in warnings.filters if f is not _ours and f not in _before]
warnings.filters[:0] = _installed
del _before, _ours, _installed
from .version import __version__  # noqa: E402

__all__ = ['__version__']
