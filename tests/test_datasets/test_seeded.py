"""SeededDataset: a sample's views depend on (seed, epoch, index) only, and loading one draws
nothing from the random streams of the process that loads it."""
import random

import numpy as np
import torch
from conftest import DEMO_CONFIG
from mmengine.config import Config
from mmpretrain.registry import DATASETS


def _streams():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _views(item):
    inputs = item['inputs']
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def test_loading_leaves_the_global_streams_and_repeats_its_views(photos_dir):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.train_dataloader.dataset.dataset.dataset.data_root = photos_dir
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert type(dataset).__name__ == 'SeededDataset'
    _seed_all(0)
    expected = _streams()
    _seed_all(0)
    first = dataset[3]
    # With num_workers=0 the loading runs in the training process: its drop-path and batch
    # preprocessor draws must continue as if it had not (as with worker processes).
    assert _streams() == expected
    _seed_all(1)
    again = dataset[3]
    assert all(torch.equal(a, b) for a, b in zip(_views(first), _views(again)))
    next_epoch = dataset[3 + len(dataset)]
    assert not all(torch.equal(a, b) for a, b in zip(_views(first), _views(next_epoch)))
