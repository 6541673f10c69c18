from .ema import ema_update_, make_teacher

__all__ = ['ema_update_', 'make_teacher']
