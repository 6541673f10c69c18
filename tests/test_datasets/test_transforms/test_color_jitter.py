"""SafeColorJitter: mmpretrain's ColorJitter semantics, with hue shifts in both directions."""
import mmcv
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS
from skimage import data

from mmhssl.datasets.transforms import shift_hue

ARGS = dict(brightness=0.4, contrast=0.4, saturation=0.2)


def _bgr():
    return np.ascontiguousarray(data.astronaut()[::4, ::4, ::-1])


def _jitter(kind, seed, **kw):
    """The jittered image, and the next number of the random stream after it."""
    np.random.seed(seed)
    img = TRANSFORMS.build(dict(type=kind, **kw))(dict(img=_bgr()))['img']
    return img, np.random.rand()


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_negative_hue_factors_work_and_rotate_the_other_way(backend):
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 2] = 255  # BGR
    towards_magenta = shift_hue(red, -0.1, backend)[0, 0]
    towards_yellow = shift_hue(red, 0.1, backend)[0, 0]
    assert towards_magenta[0] > towards_magenta[1]  # more blue than green
    assert towards_yellow[1] > towards_yellow[0]
    # A whole ColorJitter with only negative hue factors (mmcv 2.1.0 + numpy 2: OverflowError).
    out, _ = _jitter('SafeColorJitter', 0, hue=(-0.1, -0.05), backend=backend)
    assert out.shape == _bgr().shape and out.dtype == np.uint8


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_shift_hue_matches_mmcv_where_mmcv_works_and_undoes_itself(backend):
    img = _bgr()
    np.testing.assert_array_equal(
        shift_hue(img, 0.3, backend), mmcv.adjust_hue(img, 0.3, backend=backend))
    there_and_back = shift_hue(shift_hue(img, 0.2, backend), -0.2, backend).astype(int)
    assert np.abs(there_and_back - img).mean() < 2


@pytest.mark.parametrize('seed', range(4))
def test_same_draws_and_result_as_mmpretrain_color_jitter(seed):
    """Same arguments and random stream: the same image wherever mmpretrain's works (hue >= 0)."""
    for hue in (0, (0.0, 0.1)):
        theirs = _jitter('ColorJitter', seed, hue=hue, **ARGS)
        ours = _jitter('SafeColorJitter', seed, hue=hue, **ARGS)
        np.testing.assert_array_equal(ours[0], theirs[0])
        assert ours[1] == theirs[1]  # as many draws
