"""Multi-crop views with per-view masks, kept together through the pipeline."""
import copy
from typing import List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.registry import TRANSFORMS

from .masking import BlockMaskGenerator, grid_of


def _crop_size(pipeline: Sequence[dict]) -> Optional[int]:
    for t in pipeline:
        if t.get('type') in ('RandomResizedCrop', 'mmpretrain.RandomResizedCrop'):
            return t['scale']
    return None


@TRANSFORMS.register_module()
class MultiCropWithMasks(BaseTransform):
    """Global and local crops of one image, plus an iBOT block mask for each masked global view.

    mmpretrain's ``MultiView`` keeps only the images, so per-view masks would be lost; this wrapper
    produces both. Outputs ``img`` (a list: global views, then local views) and ``mask`` (a boolean
    ``(G, h, w)`` array, one mask per global view), which ``PackInputs`` stores as
    ``data_sample.mask``.

    **Required Keys:** ``img``. **Modified Keys:** ``img``. **Added Keys:** ``mask`` (when
    ``mask_cfg`` is given).

    Args:
        global_pipelines (Sequence[list]): One transform list per global view (e.g. the two
            asymmetric DINO augmentations).
        local_pipeline (list, optional): Transform list of the local views. Defaults to None.
        num_local_crops (int): Number of local views. Defaults to 0.
        mask_cfg (dict, optional): Block-mask settings: ``patch_size`` and the arguments of
            :class:`BlockMaskGenerator` except the grid, which is derived from the global crop size.
            Defaults to None (no masks).
        masked_views (Sequence[int], optional): Indices of the views to mask. Only global views can
            be masked. Defaults to all global views.
    """

    def __init__(self,
                 global_pipelines: Sequence[List[dict]],
                 local_pipeline: Optional[List[dict]] = None,
                 num_local_crops: int = 0,
                 mask_cfg: Optional[dict] = None,
                 masked_views: Optional[Sequence[int]] = None) -> None:
        if len(global_pipelines) < 1:
            raise ValueError('MultiCropWithMasks needs at least one global pipeline.')
        if num_local_crops > 0 and local_pipeline is None:
            raise ValueError(f'MultiCropWithMasks: num_local_crops={num_local_crops} but no '
                             'local_pipeline was given.')
        self.global_pipelines = [
            Compose([TRANSFORMS.build(t) for t in p]) for p in global_pipelines
        ]
        self.local_pipeline = (
            Compose([TRANSFORMS.build(t) for t in local_pipeline]) if num_local_crops > 0 else None)
        self.num_global = len(global_pipelines)
        self.num_local = num_local_crops
        self.mask_generator = None
        self.masked_views = list(range(self.num_global) if masked_views is None else masked_views)
        if mask_cfg is not None:
            bad = [v for v in self.masked_views if not 0 <= v < self.num_global]
            if bad:
                raise ValueError(
                    f'MultiCropWithMasks: masks were requested for views {bad}, but only the '
                    f'{self.num_global} global views (indices 0..{self.num_global - 1}) can be '
                    'masked; local crops are never masked. Fix masked_views.')
            mask_cfg = copy.deepcopy(mask_cfg)
            patch_size = mask_cfg.pop('patch_size', 16)
            sizes = {str(_crop_size(p)) for p in global_pipelines}
            if len(sizes) != 1 or 'None' in sizes:
                raise ValueError(
                    'MultiCropWithMasks: masks need every global pipeline to contain a '
                    'RandomResizedCrop with the same scale.')
            grid = grid_of(_crop_size(global_pipelines[0]), patch_size)
            self.mask_generator = BlockMaskGenerator(grid, **mask_cfg)

    def transform(self, results: dict) -> dict:
        views = []
        for pipeline in self.global_pipelines:
            views.append(pipeline(copy.deepcopy(results))['img'])
        for _ in range(self.num_local):
            views.append(self.local_pipeline(copy.deepcopy(results))['img'])
        results['img'] = views
        if self.mask_generator is not None:
            grid = (self.mask_generator.h, self.mask_generator.w)
            results['mask'] = np.stack([
                self.mask_generator() if v in self.masked_views else np.zeros(grid, dtype=bool)
                for v in range(self.num_global)
            ])
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(num_global={self.num_global}, num_local={self.num_local}'
            f', masks={self.mask_generator is not None})')
