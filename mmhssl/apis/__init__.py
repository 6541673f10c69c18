from .export import export_backbone, extract_backbone

__all__ = ['export_backbone', 'extract_backbone']
from .model_zoo import (CheckpointNotFoundError, ZooModel, fetch_checkpoint, get_model,
                        get_model_info, list_models, load_zoo_checkpoint, register_metafile)

__all__ += [
    'CheckpointNotFoundError', 'ZooModel', 'fetch_checkpoint', 'get_model', 'get_model_info',
    'list_models', 'load_zoo_checkpoint', 'register_metafile'
]
