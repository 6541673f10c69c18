import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, ROOT)

from mmengine.registry import init_default_scope  # noqa: E402

import mmhssl  # noqa: E402,F401
from mmhssl.utils import restore_mmengine_checkpoint_loaders  # noqa: E402

init_default_scope('mmpretrain')

DEMO_CONFIG = osp.join(
    ROOT, 'configs/hssl/hssl-ibot_vit-tiny-p16_aux-convnext2_1xb8-10e_skimage-demo.py')


@pytest.fixture(autouse=True)
def mmengine_checkpoint_loaders_after_each_test():
    """Undo :func:`~mmhssl.utils.use_safe_checkpoint_loader` (which tools call) after each test, so
    that a test that needs it says so instead of passing thanks to an earlier one."""
    yield
    restore_mmengine_checkpoint_loaders()


@pytest.fixture(scope='session')
def photos_dir(tmp_path_factory):
    """The real photos bundled with scikit-image, written once per test session."""
    from mmhssl.datasets.skimage_photos import write_photos
    out = str(tmp_path_factory.mktemp('skimage_photos'))
    write_photos(out)
    return out


def tiny_model_cfg(aux: bool = True,
                   out_channels: int = 64,
                   embed_dims: int = 32,
                   num_layers: int = 2,
                   img_size: int = 32,
                   patch_size: int = 8) -> dict:
    """A very small HSSL-iBOT model config for unit tests."""
    cfg = dict(
        type='HSSLAlgorithm',
        backbone=dict(
            type='MaskedVisionTransformer',
            arch=dict(
                embed_dims=embed_dims,
                num_layers=num_layers,
                num_heads=2,
                feedforward_channels=embed_dims * 2),
            img_size=img_size,
            patch_size=patch_size,
            drop_path_rate=0.0),
        head=dict(
            type='HSSLProjector',
            in_channels=embed_dims,
            out_channels=out_channels,
            hidden_channels=48,
            bottleneck_channels=16,
            with_aux=aux),
        loss=dict(type='IBOTLoss', out_channels=out_channels))
    if aux:
        cfg['neck'] = dict(
            type='AuxConvNeXtHead',
            in_channels=embed_dims,
            depth=2,
            kernel_size=3,
            drop_path_rate=0.0,
            base_depth=num_layers)
    return cfg


def demo_cfg(work_dir, photos, **overrides):
    """The shipped demo config pointed at ``photos`` with a shorter schedule."""
    from mmengine.config import Config
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.dataset.dataset.data_root = photos
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.default_hooks.logger.interval = 1
    cfg.merge_from_dict(overrides)
    return cfg


MOCOV3 = osp.join(ROOT, 'configs', 'hssl',
                  'hssl-mocov3_resnet50_aux-transformer3_8xb512-amp-100e_in1k.py')


def tiny_mocov3_cfg(photos: str):
    """The shipped HSSL-MoCo v3 ResNet-50 config, narrow, on 64 px views of the photos."""
    from mmengine.config import Config
    cfg = Config.fromfile(MOCOV3)
    cfg.model.backbone.update(base_channels=8, stem_channels=8)  # 50 layers, a 256-channel C5
    cfg.model.head.update(in_channels=256, hidden_channels=32, out_channels=16)
    inner = cfg.train_dataloader.dataset
    while 'pipeline' not in inner:
        inner = inner.dataset
    inner.update(type='UnlabeledImageFolder', data_root=photos)
    for key in ('split', 'data_prefix', 'ann_file'):
        inner.pop(key, None)
    for view in inner.pipeline[1].transforms:
        view[0]['scale'] = 64
    cfg.train_dataloader.batch_size = 2
    return cfg


def shrink(cfg, global_size: int = 64, local_size: int = 32, drop_path: bool = True):
    """Make the demo config cheaper for tests: smaller crops, same structure and real photos."""

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'RandomResizedCrop':
                node['scale'] = global_size if node['scale'] == 112 else local_size
            for v in node.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    walk(cfg.train_dataloader.dataset)
    cfg.model.backbone.img_size = global_size
    if not drop_path:
        cfg.model.backbone.drop_path_rate = 0.0
        cfg.model.neck.drop_path_rate = 0.0
    return cfg


def mmlogger_warnings_while(run):
    """``run()``'s result and the WARNING messages of a fresh current MMLogger meanwhile."""
    import logging
    import uuid

    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance(f'warnings-{uuid.uuid4().hex}')
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    return run(), [r.getMessage() for r in records]
