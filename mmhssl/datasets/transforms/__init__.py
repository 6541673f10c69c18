from .color_jitter import SafeColorJitter, shift_hue
from .loading import SafeLoadImageFromFile
from .masking import BlockMaskGenerator
from .multi_crop import MultiCropWithMasks

__all__ = [
    'BlockMaskGenerator', 'MultiCropWithMasks', 'SafeColorJitter', 'SafeLoadImageFromFile',
    'shift_hue'
]
