from .checkpoint import UntrustedCheckpointError, load_checkpoint_file, save_checkpoint_atomic
from .download import (CheckpointNotFoundError, ChecksumError, DownloadError, cached_file,
                       default_cache_dir, download_file, sha256_file)
from .rng import preserve_rng_state

__all__ = [
    'CheckpointNotFoundError', 'ChecksumError', 'DownloadError', 'UntrustedCheckpointError',
    'cached_file', 'default_cache_dir', 'download_file', 'load_checkpoint_file',
    'preserve_rng_state', 'save_checkpoint_atomic', 'sha256_file'
]
