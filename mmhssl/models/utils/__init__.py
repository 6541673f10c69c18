from .base_adapter import BaseAdapter, BaseFeatures
from .batch_multi_crop import BatchMultiCropPreprocessor
from .ema import EMATeacherMixin, ema_update_, make_teacher
from .quiet_init import init_weights_quietly
from .views import count_global_views, group_by_size

__all__ = [
    'BatchMultiCropPreprocessor', 'BaseAdapter', 'BaseFeatures', 'EMATeacherMixin',
    'count_global_views', 'ema_update_', 'group_by_size', 'init_weights_quietly', 'make_teacher'
]
