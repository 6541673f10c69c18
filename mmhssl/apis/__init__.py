from .export import export_backbone, extract_backbone

__all__ = ['export_backbone', 'extract_backbone']
from .model_zoo import (CheckpointNotFoundError, checkpoint_path, fetch_checkpoint, get_model,
                        get_model_info, list_models, load_zoo_checkpoint, register_metafile,
                        weights_format)

__all__ += [
    'CheckpointNotFoundError', 'checkpoint_path', 'fetch_checkpoint', 'get_model', 'get_model_info',
    'list_models', 'load_zoo_checkpoint', 'register_metafile', 'weights_format'
]
