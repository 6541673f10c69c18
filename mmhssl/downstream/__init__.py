"""Modules that only detection and segmentation fine-tuning use.

``import mmhssl`` does not import this package: the mmdet / mmseg configs that need these modules
ask for them with ``custom_imports=dict(imports=['mmhssl.downstream'])``, which registers them in
mmpretrain's registries and in mmdet's / mmseg's where those are installed.
"""
from .layer_decay_constructor import BackboneLayerDecayOptimWrapperConstructor
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['BackboneLayerDecayOptimWrapperConstructor', 'SimpleFeaturePyramid']
