"""Per-sample random seeds, so augmentations do not depend on workers, ranks or restarts."""
import random
from typing import Iterator

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmpretrain.registry import DATA_SAMPLERS, DATASETS

from ..utils.rng import preserve_rng_state


@DATASETS.register_module()
class SeededDataset:
    """Wraps a dataset so that sample ``i`` of epoch ``e`` is always augmented the same way.

    The pipeline runs with Python's, numpy's and torch's random generators seeded from
    ``(seed, epoch, index)``, and their states are restored after it, so loading a sample draws
    nothing from the streams of the process that loads it. The crops, colour jitter and masks of a
    sample then do not depend on which worker or rank loads it, nor on whether the run was
    interrupted and resumed: a resumed run and a 2-process run see exactly the same views as an
    uninterrupted 1-process run. Use with :class:`SeededSampler`, which passes the epoch inside the
    index.

    Args:
        dataset (dict | Dataset): The dataset to wrap.
    """

    def __init__(self, dataset) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.seed = 0

    @property
    def metainfo(self) -> dict:
        return getattr(self.dataset, 'metainfo', {})

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int):
        epoch, index = divmod(int(key), len(self.dataset))
        # SeedSequence mixes the three numbers into well-separated streams.
        state = np.random.SeedSequence([self.seed, epoch, index]).generate_state(2)
        # The transforms draw from the global generators, so they are seeded for this sample and
        # restored afterwards: in the main process (num_workers=0) the training's own draws
        # (drop path, the batch preprocessor's crops and masks) then continue as with workers.
        with preserve_rng_state():
            random.seed(int(state[0]))
            np.random.seed(int(state[1]))
            torch.manual_seed(int(state[0]) << 32 | int(state[1]))
            return self.dataset[index]


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """:class:`mmengine.dataset.DefaultSampler` that tells a :class:`SeededDataset` the epoch.

    It yields ``epoch * len(dataset) + index`` so that the epoch reaches the dataset even inside
    persistent worker processes. Arguments as :class:`~mmengine.dataset.DefaultSampler`.
    """

    def __init__(self, dataset, *args, **kwargs) -> None:
        if not isinstance(dataset, SeededDataset):
            raise TypeError(
                f'SeededSampler needs the dataset wrapped in SeededDataset, got '
                f"{type(dataset).__name__}: dataset=dict(type='SeededDataset', dataset=...). To "
                'train on another dataset, replace the inner one and keep the wrapper: '
                'train_dataloader = dict(dataset=dict(dataset=dict(_delete_=True, type=..., '
                "...))); or use sampler=dict(type='DefaultSampler', shuffle=True) without it.")
        super().__init__(dataset, *args, **kwargs)
        dataset.seed = self.seed

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * len(self.dataset)
        return (offset + i for i in super().__iter__())
