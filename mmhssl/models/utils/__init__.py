from .base_adapter import BaseAdapter, BaseFeatures
from .ema import ema_update_, make_teacher

__all__ = ['BaseAdapter', 'BaseFeatures', 'ema_update_', 'make_teacher']
