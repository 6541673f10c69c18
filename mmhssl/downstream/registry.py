"""Register mmhssl modules into the registries of mmdet and mmseg when they are installed."""
import importlib
import warnings
from typing import Sequence

DOWNSTREAM_SCOPES = ('mmdet', 'mmseg')


def register_downstream(module: type,
                        registry: str,
                        scopes: Sequence[str] = DOWNSTREAM_SCOPES) -> list:
    """Add ``module`` to ``<scope>.registry.<registry>`` for every installed downstream library.

    mmdet and mmseg configs build from their own registries (their ``default_scope``), so a module
    that only lives in mmpretrain's registry would need a ``mmpretrain.`` prefix there.

    Args:
        module (type): The class to register (under its own name).
        registry (str): Registry name, e.g. ``'MODELS'`` or ``'OPTIM_WRAPPER_CONSTRUCTORS'``.
        scopes (Sequence[str]): Libraries to register into. Defaults to ``('mmdet', 'mmseg')``.

    Returns:
        list: The scopes the module was registered into.
    """
    done = []
    for scope in scopes:
        try:
            target = getattr(importlib.import_module(f'{scope}.registry'), registry)
        except ImportError:  # the library is not installed: nothing to register into
            continue
        except AssertionError as e:  # its import-time version check rejected mmcv or mmengine
            warnings.warn(f'{module.__name__} is not available in {scope} configs: {e}')
            continue
        # module_dict, not get(): get() would import all of the library's models.
        if target.module_dict.get(module.__name__) is not module:
            target.register_module(module=module)
        done.append(scope)
    return done
