from .checkpoint import UntrustedCheckpointError, load_checkpoint_file, save_checkpoint_atomic

__all__ = ['UntrustedCheckpointError', 'load_checkpoint_file', 'save_checkpoint_atomic']
