from .hssl_schedule_hook import HSSLScheduleHook
from .online_knn_hook import OnlineKNNHook

__all__ = ['HSSLScheduleHook', 'OnlineKNNHook']
