from .checkpoint import (AtomicLocalBackend, CheckpointReadError, SafeCheckpointLoaderScope,
                         UntrustedCheckpointError, load_checkpoint_file,
                         restore_mmengine_checkpoint_loaders, save_checkpoint_atomic,
                         use_safe_checkpoint_loader)
from .cli import command_line_tool
from .download import (CheckpointNotFoundError, ChecksumError, DownloadError, cached_file,
                       default_cache_dir, download_file, sha256_file)
from .rng import preserve_rng_state

__all__ = [
    'AtomicLocalBackend', 'CheckpointReadError', 'CheckpointNotFoundError', 'ChecksumError',
    'DownloadError', 'UntrustedCheckpointError', 'cached_file', 'command_line_tool',
    'default_cache_dir', 'download_file', 'load_checkpoint_file', 'preserve_rng_state',
    'restore_mmengine_checkpoint_loaders', 'SafeCheckpointLoaderScope', 'save_checkpoint_atomic',
    'sha256_file', 'use_safe_checkpoint_loader'
]
