"""Compatibility of mmengine 0.10.7 with current torch and setuptools, fixed from the outside.

* torch >= 2.6 loads with ``weights_only=True`` by default, which breaks mmengine's resume and
  ``Pretrained`` init on training checkpoints. We re-register mmengine's local and HTTP checkpoint
  loaders with :func:`mmhssl.utils.load_checkpoint_file`, which loads safely with an allow-list.
* setuptools >= 82 removed ``pkg_resources``, which mmengine uses to locate ``mmdet::``/``mmseg::``
  base configs. When it is missing we give mmengine's config module equivalents built on
  ``importlib``.
"""
import importlib.util
import os.path as osp

from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint import load_checkpoint_file


def _load_local(filename, map_location):
    return load_checkpoint_file(filename, map_location=map_location)


def _load_http(filename, map_location=None, model_dir=None, progress=False):
    from mmengine.dist import get_dist_info, barrier
    from torch.hub import download_url_to_file, get_dir
    import os
    model_dir = model_dir or osp.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(filename.split('?')[0]))
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(cached):
        download_url_to_file(filename, cached, progress=progress)
    if world_size > 1:
        barrier()
        if rank != 0 and not osp.isfile(cached):
            download_url_to_file(filename, cached, progress=progress)
    return load_checkpoint_file(cached, map_location=map_location)


CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=_load_http, force=True)


def _is_installed(package: str) -> bool:
    from importlib import metadata
    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def _get_installed_path(package: str) -> str:
    from mmengine.utils.package_utils import package2module
    spec = importlib.util.find_spec(package) or importlib.util.find_spec(package2module(package))
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'Package {package!r} is not installed.')
    return osp.dirname(spec.origin)


try:
    import pkg_resources  # noqa: F401
except ImportError:
    import mmengine.config.config as _config
    import mmengine.utils.package_utils as _pkg
    for _mod in (_config, _pkg):
        _mod.is_installed = _is_installed
        _mod.get_installed_path = _get_installed_path
