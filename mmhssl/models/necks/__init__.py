from .aux_convnext import AuxConvNeXtBlock, AuxConvNeXtHead

__all__ = ['AuxConvNeXtBlock', 'AuxConvNeXtHead']
