"""The model zoo: entries read from the metafiles, models built by name, verified checkpoints.

``model-index.yml`` imports one ``metafile.yml`` per config folder (OpenMMLab's format, readable
by ``modelindex`` and ``mim``). Each model entry names its config and, when weights are published,
their URL and sha256; entries without published weights carry a ``Weights Note`` instead. Extra
metafiles (for example a private zoo) are added with :func:`register_metafile` or the
``MMHSSL_METAFILES`` environment variable (paths separated by ``os.pathsep``).

Checkpoints are cached in :func:`~mmhssl.utils.download.default_cache_dir` and verified against
their sha256 every time they are used; see :mod:`mmhssl.utils.download`. In configs a zoo checkpoint
is addressed as ``mmhssl://<model name>``, e.g.
``init_cfg=dict(type='Pretrained', checkpoint='mmhssl://NAME', prefix='backbone.')``.
"""
import difflib
import fnmatch
import logging
import os
import os.path as osp
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import torch
import yaml
from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint import load_checkpoint_file
from ..utils.download import (ChecksumError, DownloadError, OFFLINE_ENV, download_file,
                              offline_mode, resolve_cache_dir, verify_sha256)
from .backbone_weights import MissingEntryError, backbone_state, load_strictly, state_dict_of

METAFILES_ENV = 'MMHSSL_METAFILES'
SCHEME = 'mmhssl://'
FORMATS = ('mmhssl', 'official')
REQUIRED_METADATA = ('Epochs', 'Batch Size', 'Training Data', 'Architecture')
_registered_metafiles: List[str] = []


class CheckpointNotFoundError(FileNotFoundError):
    """Raised when a zoo checkpoint is neither cached nor downloadable."""


@dataclass
class ZooModel:
    """One model entry of a metafile.

    Attributes:
        name (str): Unique model name, the stem of its config file.
        config (str): Absolute path of the config file.
        collection (str, optional): ``In Collection``.
        metadata (dict): ``Metadata`` (epochs, batch size, training data, architecture...).
        results (list, optional): Published results, or None.
        weights (str, optional): URL of the published checkpoint, or None when unpublished.
        sha256 (str, optional): Expected sha256 of the checkpoint.
        weights_format (str): ``'mmhssl'`` or ``'official'`` (converted on load).
        weights_note (str, optional): Why no weights are published, or other remarks.
        paper (dict, optional): ``Title`` and ``URL`` from the entry or its collection.
        metafile (str): The metafile the entry comes from.
        raw (dict): The entry as written.
    """
    name: str
    config: str
    collection: Optional[str]
    metadata: dict
    results: Optional[list]
    weights: Optional[str]
    sha256: Optional[str]
    weights_format: str
    weights_note: Optional[str]
    paper: Optional[dict]
    metafile: str
    raw: dict = field(repr=False)

    @property
    def packaged(self) -> bool:
        """Whether the weights ship with the package (a path relative to the zoo root)."""
        return bool(self.weights) and '://' not in str(self.weights)

    @property
    def filename(self) -> str:
        """Checkpoint file name in the cache: the URL's basename, else ``<name>.pth``."""
        if self.weights:
            return osp.basename(self.weights.split('?')[0])
        return f'{self.name}.pth'

    def cache_path(self, cache_dir: Optional[str] = None) -> str:
        """Where the checkpoint is (or would be) cached."""
        return osp.join(resolve_cache_dir(cache_dir), self.filename)


def zoo_root(package_dir: Optional[str] = None) -> str:
    """The folder holding ``model-index.yml``; metafile and config paths are relative to it.

    An installed package ships it in ``mmhssl/.mim``; a source checkout has it at the repository
    root, next to the package.

    Args:
        package_dir (str, optional): The ``mmhssl`` package folder. Defaults to this package.

    Returns:
        str: The folder.
    """
    package_dir = package_dir or osp.dirname(osp.dirname(osp.abspath(__file__)))
    candidates = [osp.join(package_dir, '.mim'), osp.dirname(package_dir)]
    for root in candidates:
        if osp.isfile(osp.join(root, 'model-index.yml')):
            return root
    raise FileNotFoundError(f'No model-index.yml in {" or ".join(candidates)}; the package is '
                            'installed without its model zoo index. Reinstall it from a checkout.')


def register_metafile(path: str) -> None:
    """Add the entries of an extra metafile (e.g. a private zoo) to the model zoo.

    Relative ``Config`` paths in it are taken relative to the metafile's folder.
    """
    path = osp.abspath(osp.expanduser(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'Metafile {path} does not exist.')
    if path not in _registered_metafiles:
        _registered_metafiles.append(path)


def metafile_paths(root: Optional[str] = None) -> List[str]:
    """The metafiles imported by ``model-index.yml`` (as absolute paths), in order."""
    root = root or zoo_root()
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f) or {}
    imports = index.get('Import') or []
    return [osp.normpath(osp.join(root, p)) for p in imports]


def _extra_metafiles() -> List[str]:
    env = [p for p in os.environ.get(METAFILES_ENV, '').split(os.pathsep) if p]
    return _registered_metafiles + [osp.abspath(osp.expanduser(p)) for p in env]


def read_metafile(path: str, root: Optional[str] = None) -> List[ZooModel]:
    """Parse one metafile.

    Args:
        path (str): The metafile.
        root (str, optional): Folder that relative ``Config`` paths start from. Defaults to the
            metafile's folder.

    Returns:
        list[ZooModel]: Its model entries, in order.
    """
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    root = root or osp.dirname(osp.abspath(path))
    collections = {c.get('Name'): c for c in data.get('Collections') or [] if isinstance(c, dict)}
    models = []
    for raw in data.get('Models') or []:
        config = raw.get('Config') or ''
        if config and not osp.isabs(config):
            config = osp.normpath(osp.join(root, config))
        collection = collections.get(raw.get('In Collection'), {})
        sha = raw.get('SHA256')
        models.append(ZooModel(
            name=str(raw.get('Name', '')),
            config=config,
            collection=raw.get('In Collection'),
            metadata=dict(raw.get('Metadata') or {}),
            results=raw.get('Results'),
            weights=raw.get('Weights'),
            sha256=str(sha).lower() if sha else None,
            weights_format=raw.get('Weights Format', 'mmhssl'),
            weights_note=raw.get('Weights Note'),
            paper=raw.get('Paper') or collection.get('Paper'),
            metafile=osp.abspath(path),
            raw=raw))
    return models


def validate_metafile(path: str, root: Optional[str] = None) -> List[str]:
    """Problems in a metafile's structure and fields; an empty list when it is complete.

    Every model needs ``Name`` (the stem of its ``Config``, which must exist), ``In Collection``
    (a collection of the file), ``Metadata`` with ``Epochs``, ``Batch Size``, ``Training Data`` and
    ``Architecture``, a ``Results`` key (null or a list of ``Task``/``Dataset``/``Metrics``), a
    ``Paper`` (its own or its collection's, with ``Title`` and ``URL``), and either ``Weights`` (an
    http(s) URL, or a file shipped with the package, relative to the zoo root) with a 64-digit
    ``SHA256``, or a ``Weights Note`` saying why there are none.

    Args:
        path (str): The metafile.
        root (str, optional): Folder that relative ``Config`` paths start from. Defaults to the
            metafile's folder.

    Returns:
        list[str]: One message per problem.
    """
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    problems = []
    collections = [c.get('Name') for c in data.get('Collections') or [] if isinstance(c, dict)]
    raws = data.get('Models') or []
    if not raws:
        problems.append('no Models')
    for i, (raw, model) in enumerate(zip(raws, read_metafile(path, root))):
        where = f'{osp.basename(path)} model {raw.get("Name") or f"#{i}"}'
        if not model.name:
            problems.append(f'{where}: no Name')
        if not model.config or not osp.isfile(model.config):
            problems.append(f'{where}: Config {raw.get("Config")!r} does not exist')
        elif osp.splitext(osp.basename(model.config))[0] != model.name:
            problems.append(f'{where}: Name is not the stem of its Config')
        if model.collection not in collections:
            problems.append(f'{where}: In Collection {model.collection!r} is not among the '
                            f'collections of the file {collections}')
        missing = [k for k in REQUIRED_METADATA if model.metadata.get(k) in (None, '', [])]
        if missing:
            problems.append(f'{where}: Metadata lacks {missing}')
        if 'Results' not in raw:
            problems.append(f'{where}: no Results (write "Results: null" when none are known)')
        for result in model.results or []:
            if not isinstance(result, dict) or not all(result.get(k) for k in
                                                       ('Task', 'Dataset', 'Metrics')):
                problems.append(f'{where}: a result lacks Task, Dataset or Metrics: {result}')
        paper = model.paper or {}
        if not (isinstance(paper, dict) and paper.get('Title') and paper.get('URL')):
            problems.append(f'{where}: no Paper with Title and URL (in the model or its '
                            'collection)')
        if model.weights:
            if model.packaged:
                if not osp.isfile(osp.join(root or zoo_root(), model.weights)):
                    problems.append(f'{where}: packaged Weights {model.weights!r} do not exist')
            elif not str(model.weights).startswith(('http://', 'https://')):
                problems.append(f'{where}: Weights is neither an http(s) URL nor a packaged file')
            if not (model.sha256 and re.fullmatch(r'[0-9a-f]{64}', model.sha256)):
                problems.append(f'{where}: Weights without a 64-digit SHA256')
        else:
            if not (model.weights_note or '').strip():
                problems.append(f'{where}: neither Weights nor a Weights Note saying why not')
            if model.sha256:
                problems.append(f'{where}: SHA256 without Weights')
        if model.weights_format not in FORMATS:
            problems.append(f'{where}: Weights Format must be one of {FORMATS}')
    return problems


def load_zoo(include_extra: bool = True) -> Dict[str, ZooModel]:
    """All entries: the metafiles of ``model-index.yml``, then the registered extra metafiles.

    Args:
        include_extra (bool): Include the metafiles added with :func:`register_metafile` or
            ``MMHSSL_METAFILES``. Defaults to True.

    Returns:
        dict[str, ZooModel]: Entries by name.

    Raises:
        ValueError: Two entries share a name.
    """
    root = zoo_root()
    sources = [(p, root) for p in metafile_paths(root)]
    if include_extra:
        sources += [(p, None) for p in _extra_metafiles()]
    zoo: Dict[str, ZooModel] = {}
    for path, base in sources:
        for model in read_metafile(path, base):
            if model.name in zoo:
                raise ValueError(f'Model name {model.name!r} is defined twice: in '
                                 f'{zoo[model.name].metafile} and in {path}. Names must be unique.')
            zoo[model.name] = model
    return zoo


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Names of the zoo's models, sorted.

    Args:
        pattern (str, optional): Shell-style wildcard pattern (``fnmatch``, case-insensitive),
            e.g. ``'*vit-base*'``. Defaults to None (all).

    Returns:
        list[str]: Matching names.
    """
    names = sorted(load_zoo())
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatch(n.lower(), pattern.lower())]


def get_model_info(name: str) -> ZooModel:
    """The zoo entry called ``name``.

    Raises:
        KeyError: No such model; the message suggests close names.
    """
    zoo = load_zoo()
    if name not in zoo:
        close = [n for n in sorted(zoo) if name.lower() in n.lower()][:3]
        close = close or difflib.get_close_matches(name, list(zoo), n=3, cutoff=0.5)
        hint = f' Did you mean {", ".join(close)}?' if close else ''
        raise KeyError(f'No model {name!r} in the model zoo.{hint} See mmhssl.apis.list_models().')
    return zoo[name]


def fetch_checkpoint(name: str,
                     cache_dir: Optional[str] = None,
                     offline: Optional[bool] = None,
                     progress: bool = True) -> str:
    """Path of the verified checkpoint of a zoo model, downloaded into the cache if needed.

    A cached file is verified against the entry's sha256 on every call; a corrupted one is
    downloaded again (or reported, when offline). A cached file of an entry without a recorded
    sha256 (a checkpoint the user placed there) is used unverified.

    Args:
        name (str): Model name.
        cache_dir (str, optional): Cache folder. Defaults to ``$MMHSSL_HOME/checkpoints``.
        offline (bool, optional): Never use the network. Defaults to None, which follows
            ``MMHSSL_OFFLINE``.
        progress (bool): Show a progress bar while downloading. Defaults to True.

    Returns:
        str: The checkpoint path.

    Raises:
        CheckpointNotFoundError: Not cached, and not downloadable (no published weights, or
            offline). The message says which file to place where.
        DownloadError: The download failed; the message says which file to place where instead.
        ChecksumError: The downloaded file is corrupted; nothing is kept.
    """
    entry = get_model_info(name)
    if entry.packaged:
        path = osp.join(zoo_root(), entry.weights)
        if not osp.isfile(path):
            raise CheckpointNotFoundError(f'{name}: its packaged checkpoint {path} is missing; '
                                          'reinstall mmhssl from a complete checkout.')
        verify_sha256(path, entry.sha256)
        return path
    offline = offline_mode() if offline is None else offline
    path = entry.cache_path(cache_dir)
    if osp.isfile(path):
        if not entry.sha256:
            warnings.warn(f'{path}: no sha256 is recorded for {name}; the file is used unverified.')
            return path
        try:
            verify_sha256(path, entry.sha256)
            return path
        except ChecksumError as e:
            if offline or not entry.weights:
                raise ChecksumError(f'The cached checkpoint of {name} is damaged: {e} Replace '
                                    f'it with the file from {entry.weights or "its source"}.'
                                    ) from None
            warnings.warn(f'The cached checkpoint of {name} is damaged ({e}); downloading it '
                          'again.')
            os.remove(path)
    if not entry.weights:
        note = (entry.weights_note or 'No weights are published for it.').strip()
        raise CheckpointNotFoundError(
            f'{name} has no downloadable checkpoint: {note} To use your own weights, pass '
            f'pretrained=PATH, or place the checkpoint at {path}.')
    if offline:
        raise CheckpointNotFoundError(
            f'{name}: {path} is not cached and downloads are disabled ({OFFLINE_ENV}=1). '
            f'Download {entry.weights} (sha256 {entry.sha256}) and place it at {path}.')
    try:
        return download_file(entry.weights, path, sha256=entry.sha256, progress=progress)
    except ChecksumError:
        raise
    except DownloadError as e:
        raise DownloadError(f'{e} To use {name} without downloading, get {entry.weights} '
                            f'(sha256 {entry.sha256}) elsewhere and place it at {path}.') from None


def convert_checkpoint_format(checkpoint: dict, checkpoint_format: str) -> dict:
    """Bring a loaded checkpoint into mmhssl's key layout.

    Args:
        checkpoint (dict): As loaded by :func:`~mmhssl.utils.load_checkpoint_file`.
        checkpoint_format (str): ``'mmhssl'`` (returned as is) or ``'official'`` (the authors'
            release, converted by :func:`mmhssl.apis.official.convert_official`).

    Returns:
        dict: The checkpoint in mmhssl's layout; an official one becomes
        ``{'state_dict': {'backbone.*': ...}, 'meta': ...}`` (the base model only).
    """
    if checkpoint_format not in FORMATS:
        raise ValueError(f'checkpoint_format must be one of {FORMATS}, got {checkpoint_format!r}.')
    if checkpoint_format == 'mmhssl':
        return checkpoint
    from .official import convert_official
    state, report = convert_official(checkpoint)
    # The official release converts to the base model only (the teacher when it has both).
    return dict(state_dict=OrderedDict(('backbone.' + k, v) for k, v in state.items()),
                meta=dict(converted_from='official', source=report['source']))


def load_zoo_checkpoint(name: str, map_location='cpu', **fetch_kwargs) -> dict:
    """Fetch, verify, safely load and (for official-format entries) convert a zoo checkpoint.

    Args:
        name (str): Model name.
        map_location: As in :func:`torch.load`. Defaults to ``'cpu'``.
        **fetch_kwargs: ``cache_dir``, ``offline``, ``progress`` of :func:`fetch_checkpoint`.

    Returns:
        dict: The checkpoint in mmhssl's layout.
    """
    path = fetch_checkpoint(name, **fetch_kwargs)
    checkpoint = load_checkpoint_file(path, map_location=map_location)
    return convert_checkpoint_format(checkpoint, get_model_info(name).weights_format)


def _load_from_zoo(filename: str, map_location=None) -> dict:
    """mmengine loader for ``mmhssl://NAME``: rank 0 downloads, the other ranks wait for it."""
    name = filename[len(SCHEME):]
    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = load_zoo_checkpoint(name, map_location=map_location or 'cpu')
    if world_size > 1:
        barrier()
    if rank != 0:
        checkpoint = load_zoo_checkpoint(name, map_location=map_location or 'cpu', progress=False)
    return checkpoint


CheckpointLoader.register_scheme(prefixes=SCHEME, loader=_load_from_zoo, force=True)

_HASH_IN_NAME = re.compile(r'-([0-9a-f]{8,64})\.[A-Za-z0-9]+$')


def _checkpoint_for(entry: ZooModel, pretrained: Union[bool, str], cache_dir: Optional[str],
                    offline: Optional[bool], progress: bool, checkpoint_format: Optional[str]
                    ) -> dict:
    """Load the checkpoint that ``pretrained`` designates, in mmhssl's layout."""
    if pretrained is True:
        path = fetch_checkpoint(entry.name, cache_dir, offline, progress)
        fmt = checkpoint_format or entry.weights_format
    elif isinstance(pretrained, str) and pretrained.startswith(('http://', 'https://')):
        if pretrained == entry.weights:
            path = fetch_checkpoint(entry.name, cache_dir, offline, progress)
            fmt = checkpoint_format or entry.weights_format
        else:
            path = osp.join(resolve_cache_dir(cache_dir), osp.basename(pretrained.split('?')[0]))
            # The OpenMMLab naming convention puts a sha256 prefix at the end of the file name.
            match = _HASH_IN_NAME.search(osp.basename(path))
            if osp.isfile(path):
                if match:
                    verify_sha256(path, match.group(1))
            elif offline_mode() if offline is None else offline:
                raise CheckpointNotFoundError(f'{path} is not cached and downloads are disabled '
                                              f'({OFFLINE_ENV}=1). Place the file from '
                                              f'{pretrained} there.')
            else:
                download_file(pretrained, path, sha256=match.group(1) if match else None,
                              progress=progress)
            fmt = checkpoint_format or 'mmhssl'
    elif isinstance(pretrained, str):
        path = osp.expanduser(pretrained)
        fmt = checkpoint_format or 'mmhssl'
    else:
        raise TypeError(f'pretrained must be a bool, a path or a URL, got {pretrained!r}.')
    return convert_checkpoint_format(load_checkpoint_file(path), fmt)


def _init_quietly(model: torch.nn.Module) -> None:
    """``init_weights()`` without mmengine's one log record per parameter."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


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
    """Build a zoo model from its config, optionally with pretrained weights.

    Args:
        name (str): Model name (see :func:`list_models`).
        pretrained (bool | str): ``False``: initialised weights. ``True``: the entry's published
            checkpoint (downloaded, verified and cached). A path or URL: that checkpoint; a URL's
            file name ending in ``-<sha256 prefix>.pth`` is verified. Defaults to False.
        device (str | torch.device): Where to put the model. Defaults to ``'cpu'``.
        backbone_only (bool): Return only the base model (``model.backbone`` of the config).
            Defaults to False (the full algorithm).
        part (str): With ``backbone_only`` and a training checkpoint, ``'teacher'`` (the EMA
            model, the usual export) or ``'student'``. Defaults to ``'teacher'``.
        cache_dir (str, optional): Checkpoint cache. Defaults to ``$MMHSSL_HOME/checkpoints``.
        offline (bool, optional): Never use the network. Defaults to None (``MMHSSL_OFFLINE``).
        progress (bool): Show a download progress bar. Defaults to True.
        checkpoint_format (str, optional): ``'mmhssl'`` or ``'official'``. Defaults to None: the
            entry's ``Weights Format`` for its own weights, ``'mmhssl'`` for other files.
        **kwargs: Overrides merged into the config's ``model``.

    Returns:
        torch.nn.Module: The model in eval mode, with ``_config`` (the Config) and ``_metainfo``
        (the :class:`ZooModel`) attached.
    """
    entry = get_model_info(name)
    cfg = Config.fromfile(entry.config)
    if kwargs:
        cfg.merge_from_dict(dict(model=kwargs))
    model_cfg = cfg.model.backbone if backbone_only else cfg.model
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(model_cfg)
    if pretrained is False or pretrained is None:
        _init_quietly(model)
    else:
        checkpoint = _checkpoint_for(entry, pretrained, cache_dir, offline, progress,
                                     checkpoint_format)
        try:
            state = state_dict_of(checkpoint)
        except MissingEntryError as e:
            raise ValueError(str(e)) from None
        if backbone_only:
            load_strictly(model, backbone_state(state, part), 'the checkpoint',
                          f'the backbone of {name}')
        elif all(k.startswith('backbone.') for k in state):
            raise ValueError(f'The checkpoint for {name} holds only backbone weights; load it '
                             'with backbone_only=True.')
        else:
            load_strictly(model, state, 'the checkpoint', f'the model {name}')
    model.to(device)
    model._config = cfg
    model._metainfo = entry
    model.eval()  # some backbones' train() returns None, so do not chain it
    return model
