from .checkpoint import (AtomicLocalBackend, UntrustedCheckpointError, load_checkpoint_file,
                         save_checkpoint_atomic, use_safe_checkpoint_loader)
from .download import (CheckpointNotFoundError, ChecksumError, DownloadError, cached_file,
                       default_cache_dir, download_file, sha256_file)
from .rng import preserve_rng_state

__all__ = [
    'AtomicLocalBackend', 'CheckpointNotFoundError', 'ChecksumError', 'DownloadError',
    'UntrustedCheckpointError', 'cached_file', 'default_cache_dir', 'download_file',
    'load_checkpoint_file', 'preserve_rng_state', 'save_checkpoint_atomic', 'sha256_file',
    'use_safe_checkpoint_loader'
]
