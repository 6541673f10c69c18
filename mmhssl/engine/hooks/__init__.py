from .checkpoint_check_hook import CheckpointCheckHook
from .hssl_schedule_hook import HSSLScheduleHook
from .online_knn_hook import OnlineKNNHook
from .plain_history_hook import PlainHistoryHook
from .rng_state_hook import RNGStateHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = [
    'CheckpointCheckHook', 'HSSLScheduleHook', 'OnlineKNNHook', 'PlainHistoryHook', 'RNGStateHook',
    'SafeCheckpointHook'
]
