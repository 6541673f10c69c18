from .hssl_schedule_hook import HSSLScheduleHook

__all__ = ['HSSLScheduleHook']
