from .base_adapter import BaseAdapter, BaseFeatures
from .ema import EMATeacherMixin, ema_update_, make_teacher

__all__ = ['BaseAdapter', 'BaseFeatures', 'EMATeacherMixin', 'ema_update_', 'make_teacher']
