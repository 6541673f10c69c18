"""iBOT's block-wise masks with a per-image mask ratio."""
import math
import random
from typing import Sequence, Tuple

import numpy as np


class BlockMaskGenerator:
    """BEiT/iBOT block masking on a patch grid, with iBOT's per-image ratio sampling.

    For each image one ratio is drawn: each entry ``r_i ± v_i`` of ``ratios``/``ratio_vars`` is
    sampled uniformly (or taken as is when ``v_i == 0``) and one of them is chosen at random. Then
    rectangles of random area (at least ``(min(h, w) // 3) ** 2`` patches) and aspect ratio
    (log-uniform in ``[min_aspect, 1 / min_aspect]``) are added until ``ratio * h * w`` patches are
    masked or no rectangle fits.

    Args:
        grid_size (int | tuple): Patch grid ``(h, w)``.
        ratios (Sequence[float]): Mean mask ratios. Defaults to ``(0.0, 0.3)``.
        ratio_vars (Sequence[float]): Half-widths of the uniform ratio draws. Defaults to
            ``(0.0, 0.2)``.
        min_aspect (float): Smallest block aspect ratio. Defaults to 0.3.
    """

    def __init__(self,
                 grid_size,
                 ratios: Sequence[float] = (0.0, 0.3),
                 ratio_vars: Sequence[float] = (0.0, 0.2),
                 min_aspect: float = 0.3) -> None:
        self.h, self.w = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
        ratios, ratio_vars = list(ratios), list(ratio_vars)
        if len(ratios) != len(ratio_vars):
            raise ValueError(f'BlockMaskGenerator: {len(ratios)} ratios but {len(ratio_vars)} '
                             'ratio_vars; give one variance per ratio.')
        for r, v in zip(ratios, ratio_vars):
            if not (0 <= r - v and r + v < 1):
                raise ValueError(f'BlockMaskGenerator: ratio {r} ± {v} leaves [0, 1).')
        self.ratios, self.ratio_vars = ratios, ratio_vars
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))

    def sample_ratio(self) -> float:
        """Draw the mask ratio of one image."""
        choices = [
            random.uniform(r - v, r + v) if v > 0 else r
            for r, v in zip(self.ratios, self.ratio_vars)
        ]
        return random.choice(choices)

    def __call__(self) -> np.ndarray:
        """Returns:
            np.ndarray: Boolean ``(h, w)`` mask, True where a patch is masked.
        """
        h, w = self.h, self.w
        mask = np.zeros((h, w), dtype=bool)
        target = self.sample_ratio() * h * w
        count = 0
        while count < target:
            budget = target - count
            added = 0
            for _ in range(10):
                low = (min(h, w) // 3)**2
                area = random.uniform(low, budget)
                aspect = math.exp(random.uniform(*self.log_aspect))
                bh = int(round(math.sqrt(area * aspect)))
                bw = int(round(math.sqrt(area / aspect)))
                if bw < w and bh < h:
                    top, left = random.randint(0, h - bh), random.randint(0, w - bw)
                    block = mask[top:top + bh, left:left + bw]
                    new = bh * bw - int(block.sum())
                    if 0 < new <= budget:
                        block[...] = True
                        added = new
                if added > 0:
                    break
            if added == 0:
                break
            count += added
        return mask


def grid_of(crop_size, patch_size: int) -> Tuple[int, int]:
    """Patch grid of a crop; raises a clear error when the crop is not a multiple of the patch."""
    h, w = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
    if h % patch_size or w % patch_size:
        raise ValueError(
            f'Crop size {crop_size} is not divisible by the patch size {patch_size}; '
            f'use a multiple of {patch_size} (e.g. {patch_size * max(1, h // patch_size)}).')
    return h // patch_size, w // patch_size
