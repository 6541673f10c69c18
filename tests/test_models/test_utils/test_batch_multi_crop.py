"""BatchMultiCropPreprocessor: batched crops, flips, jitter, solarisation and block masks."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmhssl.models.utils.batch_multi_crop import random_resized_crop_boxes


def _pre(**kw):
    cfg = dict(
        type='BatchMultiCropPreprocessor',
        global_size=28,
        flip_prob=0.,
        jitter_prob=0.,
        solarize_probs=(0., 0.))
    cfg.update(kw)
    return MODELS.build(cfg)


def _batch(images):
    return dict(inputs=images, data_samples=[DataSample() for _ in range(len(images))])


def _images(n=8, size=28):
    torch.manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


def test_whole_image_crop_is_the_image_and_flip_mirrors_it():
    images = _images()
    pre = _pre(global_scale=(1., 1.), ratio=(1., 1.))
    views = pre(_batch(images), training=True)['inputs']
    assert len(views) == 2
    for v in views:  # same size, whole image: resampling reproduces every pixel
        torch.testing.assert_close(v, images.float(), atol=1e-3, rtol=0)
    flipped = _pre(
        global_scale=(1., 1.), ratio=(1., 1.), flip_prob=1.)(
            _batch(images), training=True)['inputs'][0]
    torch.testing.assert_close(flipped, images.float().flip(-1), atol=1e-3, rtol=0)


def test_crop_is_a_resized_window_of_the_image():
    # A box of exactly half the side at a known place must equal upsampling that window.
    images = _images(4, 28)
    pre = _pre(global_size=14)
    torch.manual_seed(3)
    boxes = random_resized_crop_boxes(4, 28, 28, (0.25, 0.25), (1., 1.))
    torch.manual_seed(3)
    views = _pre(
        global_size=14, global_scale=(0.25, 0.25), ratio=(1., 1.))(
            _batch(images), training=True)['inputs']
    del pre
    for i, (left, top, w, h) in enumerate(boxes.int().tolist()):
        assert (w, h) == (14, 14)
        window = images[i, :, top:top + 14, left:left + 14].float()
        torch.testing.assert_close(views[0][i], window, atol=1e-3, rtol=0)


def test_boxes_stay_inside_and_follow_scale_and_ratio():
    torch.manual_seed(0)
    boxes = random_resized_crop_boxes(2000, 28, 20, (0.1, 0.5), (3 / 4, 4 / 3))
    left, top, w, h = boxes.unbind(1)
    assert (left >= 0).all() and (top >= 0).all()
    assert (left + w <= 20).all() and (top + h <= 28).all()
    area = w * h / (28 * 20)
    assert area.min() > 0.05 and area.max() < 0.6
    assert 0.2 < area.mean() < 0.4
    # Impossible draws fall back to the whole image.
    whole = random_resized_crop_boxes(10, 8, 8, (4., 4.), (1., 1.))
    assert (whole == torch.tensor([0., 0., 8., 8.])).all()


def test_views_masks_and_normalisation():
    images = _images(6)
    pre = _pre(
        local_size=16,
        num_local_crops=3,
        solarize_probs=(0., 1.),
        mean=[10.] * 3,
        std=[2.] * 3,
        mask_cfg=dict(patch_size=4, ratios=(0.3, ), ratio_vars=(0.1, )))
    out = pre(_batch(images), training=True)
    views = out['inputs']
    assert [tuple(v.shape) for v in views] == [(6, 3, 28, 28)] * 2 + [(6, 3, 16, 16)] * 3
    masks = torch.stack([s.mask for s in out['data_samples']])
    assert masks.shape == (6, 2, 7, 7) and masks.dtype == torch.bool
    assert 0.1 < masks.float().mean() < 0.5
    # The second global view is always solarised here: no pixel above 128 survives.
    assert (views[1] * 2 + 10 < 128).all()
    # Out of training only normalisation.
    plain = pre(_batch(images), training=False)['inputs']
    torch.testing.assert_close(plain, (images.float() - 10) / 2)


def test_jitter_changes_brightness_and_contrast_within_range():
    images = torch.full((64, 3, 28, 28), 100, dtype=torch.uint8)
    images[:, :, :14] = 50
    view = _pre(
        global_scale=(1., 1.), ratio=(1., 1.), jitter_prob=1., brightness=0.4, contrast=0.4)(
            _batch(images), training=True)['inputs'][0]
    means = view.mean(dim=(1, 2, 3))
    assert means.std() > 1  # the factors differ per image
    assert means.min() > 75 * 0.6 * 0.6 and means.max() < 75 * 1.4 * 1.4


def test_same_seed_same_views():
    images = _images()
    pre = _pre(jitter_prob=0.8, flip_prob=0.5, local_size=12, num_local_crops=2)
    torch.manual_seed(5)
    a = pre(_batch(images), training=True)['inputs']
    torch.manual_seed(5)
    b = pre(_batch(images), training=True)['inputs']
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='local_size'):
        _pre(num_local_crops=2)
    with pytest.raises(ValueError, match='solarize_probs'):
        _pre(solarize_probs=())
    with pytest.raises(ValueError, match='divisible'):
        _pre(mask_cfg=dict(patch_size=5))
    with pytest.raises(ValueError, match='one size'):
        _pre()(
            dict(
                inputs=[
                    torch.zeros(3, 28, 28, dtype=torch.uint8),
                    torch.zeros(3, 20, 28, dtype=torch.uint8)
                ],
                data_samples=[DataSample(), DataSample()]),
            training=True)
