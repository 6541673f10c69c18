from .aux_convnext import AuxConvNeXtBlock, AuxConvNeXtHead
from .aux_mlp import AuxMLPBlock, AuxMLPHead
from .aux_transformer import AuxTransformerBlock, AuxTransformerHead
from .base_aux_head import BaseAuxHead

__all__ = [
    'AuxConvNeXtBlock', 'AuxConvNeXtHead', 'AuxMLPBlock', 'AuxMLPHead', 'AuxTransformerBlock',
    'AuxTransformerHead', 'BaseAuxHead'
]
