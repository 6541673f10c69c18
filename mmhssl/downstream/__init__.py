"""Modules that only detection and segmentation fine-tuning use.

``import mmhssl`` does not import this package: the mmdet / mmseg configs that need these modules
ask for them with ``custom_imports=dict(imports=['mmhssl.downstream'])``, which registers them in
mmpretrain's registries and in mmdet's / mmseg's where those are installed, together with
:class:`~mmhssl.engine.hooks.PlainHistoryHook` (so their checkpoints resume with the safe loader).
"""
from ..engine.hooks import PlainHistoryHook
from .layer_decay_constructor import BackboneLayerDecayOptimWrapperConstructor
from .registry import register_downstream
from .simple_feature_pyramid import SimpleFeaturePyramid

register_downstream(PlainHistoryHook, 'HOOKS')

__all__ = ['BackboneLayerDecayOptimWrapperConstructor', 'SimpleFeaturePyramid']
