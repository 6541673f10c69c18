import os.path as osp

import pytest
from fashion_mnist_utils import tiny_fmnist_cfg


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
    """A tiny HSSL-iBOT model really trained on Fashion-MNIST: (config file, checkpoint)."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('fmnist_run')
    cfg = tiny_fmnist_cfg(work_dir, num_per_class=8, batch_size=16, epochs=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    cfg_file = osp.join(str(work_dir), 'config.py')
    cfg.dump(cfg_file)
    return cfg_file, osp.join(str(work_dir), 'epoch_2.pth')
