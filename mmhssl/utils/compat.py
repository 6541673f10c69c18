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


if importlib.util.find_spec('pkg_resources') is None:
    import mmengine.config.config as _config
    import mmengine.utils.package_utils as _pkg
    for _mod in (_config, _pkg):
        _mod.is_installed = _is_installed
        _mod.get_installed_path = _get_installed_path


def _adjust_hue(img, hue_factor: float, backend=None):
    """mmcv 2.1.0's ``adjust_hue`` with the hue shift wrapped modulo 256 explicitly.

    mmcv computes ``np.uint8(hue_factor * 255)``, which numpy >= 2 rejects for negative factors
    (``OverflowError``) where numpy 1 wrapped around; every ColorJitter with a hue range hits it.
    """
    import cv2
    import numpy as np
    from PIL import Image
    import mmcv.image.photometric as photometric
    backend = backend or photometric.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f"backend {backend!r} is not supported; use 'cv2' or 'pillow'.")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor {hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be an ndarray with 2 or 3 dimensions.')
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only supports uint8 images'
        pil_image = Image.fromarray(np.ascontiguousarray(img[..., ::-1]), mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 arithmetic wraps around the hue circle
        out = Image.merge('HSV', (Image.fromarray(np_h, 'L'), s, v)).convert('RGB')
        return np.array(out, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    h = h.astype(np.uint8)
    h += shift
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def _patch_adjust_hue() -> None:
    import mmcv
    import mmcv.image
    import mmcv.image.photometric
    for mod in (mmcv, mmcv.image, mmcv.image.photometric):
        mod.adjust_hue = _adjust_hue


_patch_adjust_hue()


def _patch_checkpoint_saving() -> None:
    """Make the runner write checkpoints atomically and in a form the safe loader accepts."""
    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.runner.runner as runner_mod
    from .checkpoint import _plain_history, save_checkpoint_atomic
    original = ckpt_mod.save_checkpoint

    def save_checkpoint(checkpoint, filename, file_client_args=None, backend_args=None):
        if '://' in str(filename) or file_client_args or backend_args:
            return original(_plain_history(checkpoint), filename, file_client_args, backend_args)
        save_checkpoint_atomic(checkpoint, filename)

    runner_mod.save_checkpoint = save_checkpoint


_patch_checkpoint_saving()


def _patch_cpu_distributed() -> None:
    """Let ``--launcher pytorch`` work without GPUs (gloo), for CPU runs and tests.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` unconditionally when initialising a torchrun
    process group, which fails on machines without CUDA.
    """
    import torch
    import torch.distributed as torch_dist
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch_dist.init_process_group(backend='gloo' if backend == 'nccl' else backend, **kwargs)

    dist_utils._init_dist_pytorch = init_dist_pytorch


_patch_cpu_distributed()
