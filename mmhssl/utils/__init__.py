from .checkpoint import UntrustedCheckpointError, load_checkpoint_file, save_checkpoint_atomic
from .rng import preserve_rng_state

__all__ = [
    'UntrustedCheckpointError', 'load_checkpoint_file', 'preserve_rng_state',
    'save_checkpoint_atomic'
]
from .downstream_registry import register_downstream  # noqa: F401,E402
from .download import (ChecksumError, DownloadError, default_cache_dir,  # noqa: E402
                       download_file, sha256_file)

__all__ += ['ChecksumError', 'DownloadError', 'default_cache_dir', 'download_file', 'sha256_file']
