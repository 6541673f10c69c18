"""Models of the zoo by name: our index registered with mmpretrain's ModelHub, plus what it lacks.

``model-index.yml`` (see :mod:`mmhssl.apis.metafiles`) is registered with
:class:`mmpretrain.apis.ModelHub` on import, so ``ModelHub.get(NAME)`` and mmpretrain's
``get_model``/``FeatureExtractor`` serve our entries too. Extra metafiles (a private zoo) are
added with :func:`register_metafile` or ``MMHSSL_METAFILES`` (paths separated by ``os.pathsep``).
Added here: checkpoints verified against the entry's ``SHA256`` each time they are used, packaged
weights, offline errors that name the file to place (see
:func:`mmhssl.utils.download.cached_file`), and the ``mmhssl://NAME`` scheme.
"""
import difflib
import fnmatch
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Union

import modelindex
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.apis import ModelHub
from mmpretrain.apis import get_model as mmpretrain_get_model
from modelindex.models.Model import Model

from ..models.utils import init_weights_quietly
from ..utils.checkpoint import load_checkpoint_file
from ..utils.download import CheckpointNotFoundError  # noqa: F401  (raised by fetch_checkpoint)
from ..utils.download import cached_file, resolve_cache_dir
from .backbone_weights import MissingEntryError, backbone_state, find_weights, load_strictly
from .metafiles import is_packaged, zoo_root
from .official import convert_checkpoint_format

METAFILES_ENV = 'MMHSSL_METAFILES'
SCHEME = 'mmhssl://'
# The OpenMMLab naming convention ends a checkpoint's file name with a sha256 prefix.
_HASH_IN_NAME = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')
_extra_metafiles: List[str] = []
_names_by_index: Dict[str, List[str]] = {}  # indexes registered with ModelHub -> their names


def register_metafile(path: str) -> None:
    """Add an extra metafile (e.g. a private zoo); its relative ``Config`` paths start from it."""
    path = osp.abspath(osp.expanduser(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'Metafile {path} does not exist.')
    if path not in _extra_metafiles:
        _extra_metafiles.append(path)


def _index_names(path: str, config_prefix: Optional[str]) -> List[str]:
    """The names of a model index or metafile, registered with ModelHub on first use."""
    if path not in _names_by_index:
        ModelHub.register_model_index(path, config_prefix)
        _names_by_index[path] = [m.name for m in modelindex.load(path).models]
    return _names_by_index[path]


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted names of the zoo's models matching a case-insensitive wildcard pattern (fnmatch).

    Args:
        pattern (str, optional): E.g. ``'*vit-base*'``. Defaults to None (all).
    """
    root = zoo_root()
    names = _index_names(osp.join(root, 'model-index.yml'), root)
    env = [p for p in os.environ.get(METAFILES_ENV, '').split(os.pathsep) if p]
    extra = _extra_metafiles + [osp.abspath(osp.expanduser(p)) for p in env]
    for path in dict.fromkeys(extra):
        names = names + _index_names(path, None)
    pattern = (pattern or '*').lower()
    return sorted(n for n in names if fnmatch.fnmatch(n.lower(), pattern))


def get_model_info(name: str) -> Model:
    """The zoo entry ``name`` from ModelHub, its ``config`` loaded; our own fields in ``.data``.

    Raises:
        KeyError: No such model; the message suggests close names.
    """
    names = list_models()
    if name not in names:
        close = [n for n in names if name.lower() in n.lower()][:3]
        close = close or difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f' Did you mean {", ".join(close)}?' if close else ''
        raise KeyError(f'No model {name!r} in the model zoo.{hint} See mmhssl.apis.list_models().')
    return ModelHub.get(name)


def _entry(name: Union[str, Model]) -> Model:
    return get_model_info(name) if isinstance(name, str) else name


def weights_format(name: Union[str, Model]) -> str:
    """An entry's ``Weights Format``: ``'mmhssl'`` (default) or ``'official'`` (converted)."""
    return _entry(name).data.get('Weights Format', 'mmhssl')


def checkpoint_path(name: Union[str, Model], cache_dir: Optional[str] = None) -> str:
    """Where an entry's checkpoint is: its packaged file, or its place in the cache (the URL's
    basename, else ``<name>.pth``)."""
    entry = _entry(name)
    if is_packaged(entry.weights):
        return osp.join(zoo_root(), entry.weights)
    filename = osp.basename(entry.weights.split('?')[0]) if entry.weights else f'{entry.name}.pth'
    return osp.join(resolve_cache_dir(cache_dir), filename)


def fetch_checkpoint(name: Union[str, Model],
                     cache_dir: Optional[str] = None,
                     offline: Optional[bool] = None,
                     progress: bool = True) -> str:
    """Path of the verified checkpoint of a zoo model (see :func:`~mmhssl.utils.cached_file`).

    Args:
        name (str | Model): Model name, or its entry from :func:`get_model_info`.
        cache_dir (str, optional): Cache folder. Defaults to ``$MMHSSL_HOME/checkpoints``.
        offline (bool, optional): Never use the network. Defaults to ``MMHSSL_OFFLINE``.
        progress (bool): Show a progress bar while downloading. Defaults to True.
    """
    entry = _entry(name)
    packaged = is_packaged(entry.weights)
    note = ('its packaged file is missing; reinstall mmhssl from a complete checkout.'
            if packaged else entry.data.get('Weights Note') or 'No weights are published for it.')
    sha256 = entry.data.get('SHA256')
    return cached_file(
        checkpoint_path(entry, cache_dir), None if packaged else entry.weights,
        str(sha256).lower() if sha256 else None, offline, progress, entry.name, note.strip())


def load_zoo_checkpoint(name: Union[str, Model], map_location='cpu', **fetch_kwargs) -> dict:
    """Fetch, verify, safely load and (for official-format entries) convert a zoo checkpoint.

    Args:
        name (str | Model): Model name or entry.
        map_location: As in :func:`torch.load`. Defaults to ``'cpu'``.
        **fetch_kwargs: ``cache_dir``, ``offline``, ``progress`` of :func:`fetch_checkpoint`.
    """
    entry = _entry(name)
    checkpoint = load_checkpoint_file(fetch_checkpoint(entry, **fetch_kwargs), map_location)
    return convert_checkpoint_format(checkpoint, weights_format(entry))


def _load_from_zoo(filename: str, map_location=None) -> dict:
    """mmengine loader for ``mmhssl://NAME``: rank 0 downloads, the other ranks wait for it."""
    name, map_location = filename[len(SCHEME):], map_location or 'cpu'
    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = load_zoo_checkpoint(name, map_location)
    if world_size > 1:
        barrier()
    if rank != 0:
        checkpoint = load_zoo_checkpoint(name, map_location, progress=False)
    return checkpoint


# Plain registration of our own prefix; force keeps a re-import of this module harmless.
CheckpointLoader.register_scheme(prefixes=SCHEME, loader=_load_from_zoo, force=True)
# Our names join mmpretrain's ModelHub on import, so that its get_model, FeatureExtractor and
# inference_model take them as they take mmpretrain's own.
try:
    list_models()
except FileNotFoundError:  # installed without its index: list_models() says so when called
    pass


def _checkpoint_for(entry: Model, pretrained: Union[bool, str], cache_dir: Optional[str],
                    offline: Optional[bool], progress: bool,
                    checkpoint_format: Optional[str]) -> dict:
    """Load the checkpoint that ``pretrained`` designates, in mmhssl's layout."""
    fmt = 'mmhssl'
    if pretrained is True or pretrained == entry.weights:
        path, fmt = fetch_checkpoint(entry, cache_dir, offline, progress), weights_format(entry)
    elif isinstance(pretrained, str) and pretrained.startswith(('http://', 'https://')):
        filename = osp.basename(pretrained.split('?')[0])
        match = _HASH_IN_NAME.search(filename)
        path = cached_file(
            osp.join(resolve_cache_dir(cache_dir), filename), pretrained, match and match.group(1),
            offline, progress)
    elif isinstance(pretrained, str):
        path = osp.expanduser(pretrained)
    else:
        raise TypeError(f'pretrained must be a bool, a path or a URL, got {pretrained!r}.')
    return convert_checkpoint_format(load_checkpoint_file(path), checkpoint_format or fmt)


def get_model(name: str,
              pretrained: Union[bool, str] = False,
              device: Union[str, torch.device] = 'cpu',
              backbone_only: bool = False,
              part: str = 'teacher',
              cache_dir: Optional[str] = None,
              offline: Optional[bool] = None,
              progress: bool = True,
              checkpoint_format: Optional[str] = None,
              **kwargs) -> torch.nn.Module:
    """:func:`mmpretrain.apis.get_model` of a zoo entry, with its weights verified and loaded
    strictly.

    The model is the one mmpretrain's ``get_model`` and ``FeatureExtractor`` build from the entry's
    ``Config`` (for published backbones a headless ``ImageClassifier`` with the config's data
    preprocessor), with ``_config``, ``_metainfo`` and ``_dataset_meta`` set as mmpretrain sets
    them, so its inferencers accept it.

    Args:
        name (str): Model name (see :func:`list_models`).
        pretrained (bool | str): ``False``: initialised weights. ``True``: the entry's checkpoint
            (see :func:`fetch_checkpoint`). A path, or a URL (cached; verified when its file name
            ends in ``-<sha256 prefix>.<ext>``). Defaults to False.
        device (str | torch.device): Where to put the model. Defaults to ``'cpu'``.
        backbone_only (bool): Return only the bare ``model.backbone`` of the config, without the
            data preprocessor: the caller normalises its inputs as the config's
            ``data_preprocessor`` does (mean/std of the training images). Defaults to False.
        part (str): With ``backbone_only``, the part of a training checkpoint: ``'teacher'``
            (the EMA model) or ``'student'``. Defaults to ``'teacher'``.
        cache_dir, offline, progress: As in :func:`fetch_checkpoint`.
        checkpoint_format (str, optional): ``'mmhssl'`` or ``'official'``. Defaults to the
            entry's ``Weights Format`` for its own weights, ``'mmhssl'`` for other files.
        **kwargs: Overrides merged into the config's ``model``.

    Returns:
        torch.nn.Module: The model in eval mode.
    """
    entry = get_model_info(name)
    cfg = entry.config
    if backbone_only:
        if kwargs:
            cfg.merge_from_dict(dict(model=kwargs))
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
            model = MODELS.build(cfg.model.backbone)
    else:
        # mmpretrain's own builder: data preprocessor, dataset meta and the attributes its
        # inferencers read; the weights are loaded below, strictly.
        model = mmpretrain_get_model(cfg, pretrained=False, **kwargs)
    if pretrained is False or pretrained is None:
        init_weights_quietly(model)
    else:
        checkpoint = _checkpoint_for(entry, pretrained, cache_dir, offline, progress,
                                     checkpoint_format)
        try:
            state, _ = find_weights(checkpoint)
        except MissingEntryError as e:
            raise ValueError(str(e)) from None
        if backbone_only:
            load_strictly(model, backbone_state(state, part), 'the checkpoint',
                          f'the backbone of {name}')
        elif (all(k.startswith('backbone.') for k in state)
              and any(not k.startswith('backbone.') for k in model.state_dict())):
            raise ValueError(f'The checkpoint for {name} holds only backbone weights, and its '
                             'config builds more than a backbone; load it with '
                             'backbone_only=True.')
        else:
            load_strictly(model, state, 'the checkpoint', f'the model {name}')
    model.to(device)
    if backbone_only:
        model._config = cfg
    model._metainfo = entry  # as mmpretrain's get_model sets it for a name
    model.eval()  # some backbones' train() returns None, so do not chain it
    return model
