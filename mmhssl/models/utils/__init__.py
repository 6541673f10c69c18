from .base_adapter import BaseAdapter, BaseFeatures
from .batch_multi_crop import BatchMultiCropPreprocessor
from .ema import EMATeacherMixin, ema_update_, make_teacher

__all__ = ['BatchMultiCropPreprocessor', 'BaseAdapter', 'BaseFeatures', 'EMATeacherMixin', 'ema_update_', 'make_teacher']
