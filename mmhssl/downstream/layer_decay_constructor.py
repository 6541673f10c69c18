"""Layer-wise learning-rate decay for detectors and segmentors with a depth-aware backbone."""
from functools import partial
from typing import Callable, List, Optional

from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

from .registry import register_downstream


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's layer-wise lr decay for models that only their backbone knows the depth of.

    mmpretrain's constructor asks the *model* for ``get_layer_depth``, which classifiers have and
    mmseg's ``EncoderDecoder`` and mmdet's detectors have not; mmseg's and mmdet's own constructors
    only know their ConvNeXt / BEiT / MAE classes. This one asks ``model.backbone`` (e.g.
    ``mmpretrain.VisionTransformer``, which counts patch embedding and tokens as depth 0 and block
    ``i`` as depth ``i + 1``). A parameter at depth ``d`` of ``n`` gets
    ``lr * layer_decay_rate ** (n - 1 - d)``; necks and heads count as the last depth, so they keep
    the base lr.

    ``paramwise_cfg`` takes the keys of mmpretrain's constructor: ``layer_decay_rate``,
    ``norm_decay_mult``, ``bias_decay_mult``, ``flat_decay_mult`` and ``custom_keys`` (by
    substring, with ``decay_mult``).

    Example:
        >>> optim_wrapper = dict(
        >>>     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        >>>     constructor='BackboneLayerDecayOptimWrapperConstructor',
        >>>     paramwise_cfg=dict(layer_decay_rate=0.65, custom_keys={
        >>>         '.pos_embed': dict(decay_mult=0.), '.cls_token': dict(decay_mult=0.)}))
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise TypeError(
                    f'{type(self).__name__}: {type(backbone).__name__} has no get_layer_depth(); '
                    'use an mmpretrain backbone (e.g. type="mmpretrain.VisionTransformer") or a '
                    'constructor made for this backbone.')
            get_layer_depth = partial(backbone.get_layer_depth, prefix='backbone.')
        super().add_params(params, module, prefix=prefix, get_layer_depth=get_layer_depth, **kwargs)


register_downstream(BackboneLayerDecayOptimWrapperConstructor, 'OPTIM_WRAPPER_CONSTRUCTORS')
