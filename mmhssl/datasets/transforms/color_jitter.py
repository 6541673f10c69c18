"""Colour jitter whose hue shift works for negative factors with numpy >= 2."""
from typing import Optional

import cv2
import mmcv
import numpy as np
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import ColorJitter
from mmpretrain.registry import TRANSFORMS
from PIL import Image


def shift_hue(img: np.ndarray, hue_factor: float, backend: str = 'pillow') -> np.ndarray:
    """Rotate the hue of a BGR image by ``hue_factor`` turns, wrapping around the hue circle.

    The same operation as :func:`mmcv.adjust_hue` (hue as a byte, shifted by
    ``int(hue_factor * 255)`` modulo 256), which in mmcv 2.1.0 converts a negative shift straight to
    ``np.uint8`` and so raises ``OverflowError`` with numpy >= 2.

    Args:
        img (np.ndarray): BGR image, ``uint8`` for the pillow backend.
        hue_factor (float): Shift in [-0.5, 0.5] of a full turn.
        backend (str): ``'pillow'`` or ``'cv2'``. Defaults to ``'pillow'``.

    Returns:
        np.ndarray: The image with its hue shifted, of the input dtype.
    """
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f"backend {backend!r} is not supported; use 'cv2' or 'pillow'.")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor {hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be an ndarray with 2 or 3 dimensions.')
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError(f'The pillow backend needs a uint8 image, got {img.dtype}.')
        rgb = Image.fromarray(np.ascontiguousarray(img[..., ::-1]), mode='RGB')
        h, s, v = rgb.convert('HSV').split()
        hue = np.array(h, dtype=np.uint8)
        hue += shift  # uint8 arithmetic wraps around the hue circle
        out = Image.merge('HSV', (Image.fromarray(hue, 'L'), s, v)).convert('RGB')
        return np.array(out, dtype=img.dtype)[..., ::-1]
    h, s, v = cv2.split(cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL))
    h += shift
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


@TRANSFORMS.register_module()
class SafeColorJitter(ColorJitter):
    """mmpretrain's ``ColorJitter`` (same arguments, draws and order) with :func:`shift_hue`.

    With numpy >= 2, mmpretrain's ``ColorJitter`` with a hue range fails on about half of the images
    (every negative hue factor) inside mmcv 2.1.0's ``adjust_hue``. Brightness, contrast and
    saturation go through mmcv's ``adjust_*`` functions as there; only the hue shift is ours.

    Args:
        brightness, contrast, saturation, hue, backend: As in
            :class:`mmpretrain.datasets.transforms.ColorJitter`.
    """

    @cache_randomness
    def draw(self) -> tuple:
        """The order of the four adjustments and their factors (None for those switched off)."""
        order = np.random.permutation(4)
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        return order, [None if r is None else np.random.uniform(r[0], r[1]) for r in ranges]

    def transform(self, results: dict) -> Optional[dict]:
        img = results['img']
        order, factors = self.draw()
        adjust = (
            lambda im, f: mmcv.adjust_brightness(im, f, backend=self.backend),
            lambda im, f: mmcv.adjust_contrast(im, f, backend=self.backend),
            lambda im, f: mmcv.adjust_color(im, alpha=f, backend=self.backend),
            lambda im, f: shift_hue(im, f, backend=self.backend),
        )
        for i in order:
            if factors[i] is not None:
                img = adjust[i](img, factors[i])
        results['img'] = img
        return results
