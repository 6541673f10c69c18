"""Shared helpers for the tests that use the real Fashion-MNIST files."""
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
HSSL_CONFIG = osp.join(
    ROOT, 'configs/benchmarks/fashion_mnist/'
    'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py')
IBOT_CONFIG = osp.join(
    ROOT, 'configs/benchmarks/fashion_mnist/'
    'ibot_vit-mini-p4_1xb128-6e_fashion-mnist.py')
FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz',
         't10k-labels-idx1-ubyte.gz')


def fmnist_root() -> str:
    """The Fashion-MNIST folder; the calling test FAILS (not skips) when the files are absent."""
    from mmhssl.datasets.fashion_mnist import DEFAULT_ROOT
    missing = [f for f in FILES if not osp.isfile(osp.join(DEFAULT_ROOT, f))]
    if missing:
        pytest.fail(f'Fashion-MNIST files {missing} are missing from {DEFAULT_ROOT}: install the '
                    'Debian package with `apt-get install -y dataset-fashion-mnist` (`make test` '
                    'does this).')
    return DEFAULT_ROOT


def tiny_fmnist_cfg(work_dir,
                    aux: bool = True,
                    num_per_class: int = 4,
                    batch_size: int = 8,
                    epochs: int = 1,
                    drop_path_rate: float = 0.0,
                    seed: int = 0):
    """The Fashion-MNIST benchmark config shrunk to a few CPU-seconds of real training.

    Without the online kNN hook; tests add the hooks they need to ``custom_hooks``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(HSSL_CONFIG if aux else IBOT_CONFIG)
    fmnist_root()
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    d = 32
    cfg.model.backbone.arch = dict(
        embed_dims=d, num_layers=2, num_heads=2, feedforward_channels=d * 2)
    cfg.model.backbone.drop_path_rate = drop_path_rate
    cfg.model.head.update(
        in_channels=d, hidden_channels=64, bottleneck_channels=32, out_channels=128)
    cfg.model.loss.out_channels = 128
    if aux:
        cfg.model.neck.update(in_channels=d, depth=1, base_depth=2)
    loader = cfg.train_dataloader
    loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    loader.dataset.num_per_class = num_per_class
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.custom_hooks = [
        dict(
            type='HSSLScheduleHook',
            momentum=(0.9, 1.0),
            teacher_temp=(0.04, 0.07),
            warmup_epochs=1,
            freeze_last_layer_epochs=0)
    ]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.log_level = 'WARNING'
    return cfg


def knn_hook_cfg(**kwargs) -> dict:
    """A cheap OnlineKNNHook config on small real subsets."""
    cfg = dict(
        type='OnlineKNNHook',
        train_dataset=dict(type='LocalFashionMNIST', split='train', num_per_class=10),
        test_dataset=dict(type='LocalFashionMNIST', split='test', num_per_class=5),
        k=5,
        batch_size=64)
    cfg.update(kwargs)
    return cfg
