from .loading import SafeLoadImageFromFile
from .masking import BlockMaskGenerator
from .multi_crop import MultiCropWithMasks

__all__ = ['BlockMaskGenerator', 'MultiCropWithMasks', 'SafeLoadImageFromFile']
