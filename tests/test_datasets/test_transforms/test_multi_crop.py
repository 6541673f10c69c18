import random

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS

from mmhssl.datasets.transforms import BlockMaskGenerator


def _pipe(size):
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=(0.2, 1.0), backend='pillow'),
        dict(type='RandomFlip', prob=0.5)
    ]


def _load(photos_dir, name='astronaut.png'):
    return LoadImageFromFile()(dict(img_path=f'{photos_dir}/{name}'))


def test_views_and_one_mask_per_global_view(photos_dir):
    random.seed(0)
    np.random.seed(0)
    t = TRANSFORMS.build(
        dict(
            type='MultiCropWithMasks',
            global_pipelines=[_pipe(64), _pipe(64)],
            local_pipeline=_pipe(32),
            num_local_crops=3,
            mask_cfg=dict(patch_size=16, ratios=(0.4, ), ratio_vars=(0.1, ))))
    packed = TRANSFORMS.build(dict(type='PackInputs'))(t(_load(photos_dir)))
    shapes = [tuple(v.shape) for v in packed['inputs']]
    assert shapes == [(3, 64, 64)] * 2 + [(3, 32, 32)] * 3
    mask = packed['data_samples'].mask
    assert tuple(mask.shape) == (2, 4, 4) and mask.dtype.is_floating_point is False
    # Each global view draws its own mask.
    masks = [t(_load(photos_dir))['mask'] for _ in range(20)]
    assert any(not np.array_equal(m[0], m[1]) for m in masks)
    assert all(m.any(axis=(1, 2)).all() for m in masks)  # ratio 0.3-0.5: every view masked


def test_masks_for_local_crops_are_rejected():
    with pytest.raises(ValueError, match='only the 2 global views.*local crops are never masked'):
        TRANSFORMS.build(
            dict(
                type='MultiCropWithMasks',
                global_pipelines=[_pipe(64), _pipe(64)],
                local_pipeline=_pipe(32),
                num_local_crops=2,
                masked_views=[0, 2],
                mask_cfg=dict(patch_size=16)))


def test_crop_not_divisible_by_patch_is_rejected():
    with pytest.raises(ValueError, match='not divisible by the patch size 16'):
        TRANSFORMS.build(
            dict(
                type='MultiCropWithMasks',
                global_pipelines=[_pipe(60), _pipe(60)],
                mask_cfg=dict(patch_size=16)))


def test_block_mask_ratio_sampling_follows_ibot():
    random.seed(0)
    gen = BlockMaskGenerator(14, ratios=(0.0, 0.3), ratio_vars=(0.0, 0.2))
    ratios = np.array([gen().mean() for _ in range(400)])
    # Half of the images unmasked, the rest close to U(0.1, 0.5) (blocks may undershoot slightly).
    assert 0.35 < (ratios == 0).mean() < 0.65
    masked = ratios[ratios > 0]
    assert masked.min() >= 0.04 and masked.max() <= 0.5 + 1e-9
    assert 0.2 < masked.mean() < 0.35
    # Masks are unions of rectangles: at least one 2x2 (= (14 // 3) ** 2 / 4 area) block present.
    m = gen()
    while not m.any():
        m = gen()
    assert (m[:-1, :-1] & m[1:, :-1] & m[:-1, 1:] & m[1:, 1:]).any()


def test_bad_ratio_settings_are_rejected():
    with pytest.raises(ValueError, match='one variance per ratio'):
        BlockMaskGenerator(14, ratios=(0.0, 0.3), ratio_vars=(0.1, ))
    with pytest.raises(ValueError, match='leaves'):
        BlockMaskGenerator(14, ratios=(0.9, ), ratio_vars=(0.2, ))


def test_non_square_crops_get_non_square_masks(photos_dir):
    t = TRANSFORMS.build(
        dict(
            type='MultiCropWithMasks',
            global_pipelines=[_pipe((64, 96)), _pipe((64, 96))],
            mask_cfg=dict(patch_size=16, ratios=(0.4, ), ratio_vars=(0.1, ))))
    out = t(_load(photos_dir))
    assert [v.shape[:2] for v in out['img']] == [(64, 96)] * 2
    assert out['mask'].shape == (2, 4, 6)
