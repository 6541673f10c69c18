"""Multi-crop views and block masks made for a whole batch at once, on the batch's device."""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from ...datasets.transforms.masking import BlockMaskGenerator, grid_of


def random_resized_crop_boxes(n: int,
                              height: int,
                              width: int,
                              scale: Tuple[float, float],
                              ratio: Tuple[float, float],
                              attempts: int = 10) -> torch.Tensor:
    """Draw ``n`` RandomResizedCrop boxes as torchvision does, all at once.

    Area fraction uniform in ``scale``, aspect ratio log-uniform in ``ratio``; the first of
    ``attempts`` draws that fits in the image is kept, else the whole image.

    Returns:
        torch.Tensor: ``(n, 4)`` float boxes ``(left, top, w, h)`` in pixels.
    """
    area = torch.empty(n, attempts).uniform_(*scale) * (height * width)
    log_ratio = torch.empty(n, attempts).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w = torch.sqrt(area * log_ratio.exp()).round()
    h = torch.sqrt(area / log_ratio.exp()).round()
    fits = (w >= 1) & (h >= 1) & (w <= width) & (h <= height)
    first = torch.argmax(fits.int(), dim=1, keepdim=True)
    any_fit = fits.any(dim=1)
    w = torch.where(any_fit, w.gather(1, first)[:, 0], torch.tensor(float(width)))
    h = torch.where(any_fit, h.gather(1, first)[:, 0], torch.tensor(float(height)))
    left = torch.floor(torch.rand(n) * (width - w + 1))
    top = torch.floor(torch.rand(n) * (height - h + 1))
    return torch.stack([left, top, w, h], dim=1)


@MODELS.register_module()
class BatchMultiCropPreprocessor(SelfSupDataPreprocessor):
    """DINO/iBOT multi-crop augmentation and iBOT block masks as batched tensor operations.

    The dataset only delivers whole images (``PackInputs``, batched by ``default_collate``); in
    training this preprocessor makes every view of the batch with a few tensor operations instead
    of one PIL call chain per image and view, which dominates the step time for small images on a
    CPU (see docs/benchmarks.md). Per view and image: a random resized crop (area fraction in
    ``*_scale``, aspect ratio in ``ratio``, bilinear resampling), a horizontal flip, brightness and
    contrast jitter in random order with probability ``jitter_prob``, and solarisation with the
    view's probability. Out of training (kNN, linear probe, test) it only normalises, as
    ``SelfSupDataPreprocessor``.

    The random draws come from torch's and Python's global generators, which
    :class:`~mmhssl.engine.hooks.RNGStateHook` saves, so a resumed run continues exactly.

    Args:
        global_size (int): Side of the global views.
        local_size (int, optional): Side of the local views. Defaults to None (no local views).
        num_local_crops (int): Number of local views. Defaults to 0.
        global_scale (tuple): Area fraction range of the global crops. Defaults to ``(0.3, 1.)``.
        local_scale (tuple): Area fraction range of the local crops. Defaults to ``(0.05, 0.3)``.
        ratio (tuple): Aspect ratio range. Defaults to ``(3 / 4, 4 / 3)``.
        flip_prob (float): Horizontal flip probability. Defaults to 0.5.
        jitter_prob (float): Probability of brightness/contrast jitter. Defaults to 0.8.
        brightness (float): Brightness factor range ``1 ± brightness``. Defaults to 0.4.
        contrast (float): Contrast factor range ``1 ± contrast``. Defaults to 0.4.
        solarize_probs (Sequence[float]): One solarisation probability per global view; its
            length is the number of global views (DINO's asymmetric pair by default). Local views
            are never solarised. Defaults to ``(0., 0.2)``.
        mask_cfg (dict, optional): iBOT block masks of the global views: ``patch_size`` and the
            arguments of :class:`~mmhssl.datasets.transforms.masking.BlockMaskGenerator`. Stored
            as ``data_sample.mask`` ``(G, h, w)``. Defaults to None (no masks).
        **kwargs: Arguments of ``SelfSupDataPreprocessor`` (``mean``, ``std``, ``to_rgb``, ...).
    """

    def __init__(self,
                 global_size: int,
                 local_size: Optional[int] = None,
                 num_local_crops: int = 0,
                 global_scale: Tuple[float, float] = (0.3, 1.),
                 local_scale: Tuple[float, float] = (0.05, 0.3),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                 flip_prob: float = 0.5,
                 jitter_prob: float = 0.8,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 solarize_probs: Sequence[float] = (0., 0.2),
                 mask_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        # From our own arguments: the parent keeps these two in private attributes.
        self.swap_channels = any(kwargs.get(k) for k in ('to_rgb', 'bgr_to_rgb', 'rgb_to_bgr'))
        self.normalize = kwargs.get('mean') is not None
        if num_local_crops > 0 and not local_size:
            raise ValueError(f'BatchMultiCropPreprocessor: num_local_crops={num_local_crops} '
                             'needs a local_size.')
        if len(solarize_probs) < 1:
            raise ValueError('BatchMultiCropPreprocessor: solarize_probs needs one entry per '
                             'global view (at least one).')
        self.global_size, self.local_size = global_size, local_size
        self.num_local_crops = num_local_crops
        self.global_scale, self.local_scale = tuple(global_scale), tuple(local_scale)
        self.ratio = tuple(ratio)
        self.flip_prob, self.jitter_prob = flip_prob, jitter_prob
        self.brightness, self.contrast = brightness, contrast
        self.solarize_probs = tuple(solarize_probs)
        self.mask_generator = None
        if mask_cfg is not None:
            mask_cfg = dict(mask_cfg)
            grid = grid_of(global_size, mask_cfg.pop('patch_size', 16))
            self.mask_generator = BlockMaskGenerator(grid, **mask_cfg)

    def forward(self, data: dict, training: bool = False) -> dict:
        if not training:
            return super().forward(data, training)
        inputs, data_samples = self.cast_data([data['inputs'], data.get('data_samples')])
        if isinstance(inputs, list):
            try:
                inputs = torch.stack(inputs)
            except RuntimeError as e:
                raise ValueError('BatchMultiCropPreprocessor needs images of one size per batch; '
                                 'resize them in the dataset pipeline (e.g. Resize) first.') from e
        if self.swap_channels:
            inputs = inputs[:, [2, 1, 0]]
        images = inputs.float()
        views = [
            self._view(images, self.global_size, self.global_scale, p) for p in self.solarize_probs
        ]
        views += [
            self._view(images, self.local_size, self.local_scale, 0.)
            for _ in range(self.num_local_crops)
        ]
        if self.normalize:
            views = [(v - self.mean) / self.std for v in views]
        if self.mask_generator is not None:
            for sample in data_samples:
                masks = np.stack([self.mask_generator() for _ in self.solarize_probs])
                sample.set_mask(torch.from_numpy(masks).to(images.device))
        return {'inputs': views, 'data_samples': data_samples}

    def _view(self, images: torch.Tensor, size: int, scale: Tuple[float, float],
              solarize_prob: float) -> torch.Tensor:
        """One augmented view ``(B, C, size, size)`` of every image, in pixel values 0-255."""
        B, _, H, W = images.shape
        left, top, w, h = random_resized_crop_boxes(B, H, W, scale, self.ratio).unbind(1)
        flip = torch.where(torch.rand(B) < self.flip_prob, -1., 1.)
        # Affine map from output to input coordinates in grid_sample's [-1, 1] convention
        # (align_corners=False: -1 and 1 are the outer pixel edges).
        theta = torch.zeros(B, 2, 3)
        theta[:, 0, 0] = w / W * flip
        theta[:, 0, 2] = (2 * left + w) / W - 1
        theta[:, 1, 1] = h / H
        theta[:, 1, 2] = (2 * top + h) / H - 1
        theta = theta.to(images.device)
        grid = F.affine_grid(theta, [B, images.shape[1], size, size], align_corners=False)
        x = F.grid_sample(images, grid, mode='bilinear', padding_mode='border', align_corners=False)
        x = self._jitter(x)
        if solarize_prob > 0:
            hit = (torch.rand(B, device=x.device) < solarize_prob).view(B, 1, 1, 1)
            x = torch.where(hit & (x >= 128), 255. - x, x)
        return x

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        """Brightness then contrast, or the reverse (torchvision's ColorJitter draws the order)."""
        B = x.shape[0]
        active = (torch.rand(B) < self.jitter_prob).float()

        def factors(strength):
            f = torch.empty(B).uniform_(1 - strength, 1 + strength)
            return (1 + active * (f - 1)).view(B, 1, 1, 1).to(x.device)

        b, c = factors(self.brightness), factors(self.contrast)
        contrast_first = (torch.rand(B) < 0.5).view(B, 1, 1, 1).to(x.device)

        def bright(y):
            return (y * b).clamp(0, 255)

        def contrast(y):
            if y.shape[1] == 1:
                gray = y.mean(dim=1, keepdim=True)
            else:
                gray = 0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3]
            mean = gray.mean(dim=(2, 3), keepdim=True)
            return ((y - mean) * c + mean).clamp(0, 255)

        return torch.where(contrast_first, bright(contrast(x)), contrast(bright(x)))
