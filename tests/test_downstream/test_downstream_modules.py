"""SimpleFeaturePyramid and BackboneLayerDecayOptimWrapperConstructor, in mmdet/mmseg scopes."""
import math

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.models import VisionTransformer
from torch import nn

from mmhssl.downstream import BackboneLayerDecayOptimWrapperConstructor, SimpleFeaturePyramid

pytestmark = pytest.mark.downstream


def build_in_scope(scope: str, registry_name: str, cfg: dict):
    import importlib
    registry = getattr(importlib.import_module(f'{scope}.registry'), registry_name)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg)


def test_simple_feature_pyramid_builds_from_mmdet_and_makes_strides_4_to_64():
    neck = build_in_scope('mmdet', 'MODELS',
                          dict(type='SimpleFeaturePyramid', in_channels=64, out_channels=32))
    assert isinstance(neck, SimpleFeaturePyramid)
    x = torch.randn(2, 64, 6, 8)  # a stride-16 map of a 96x128 image
    outs = neck((torch.randn(2, 64, 6, 8), x))  # only the last map is used
    shapes = [tuple(o.shape) for o in outs]
    assert shapes == [(2, 32, 24, 32), (2, 32, 12, 16), (2, 32, 6, 8), (2, 32, 3, 4), (2, 32, 2, 2)]
    # Norms are mmpretrain's channel-wise LayerNorm2d: each output pixel is normalised.
    pixel = outs[2][0, :, 1, 1].detach()
    assert abs(float(pixel.mean())) < 1e-4
    assert math.isclose(float(pixel.var(unbiased=False)), 1, rel_tol=1e-2)
    # The x4 level upsamples with two transposed convolutions, halving the channels each time.
    assert [m.out_channels for m in neck.resample[0]
            if isinstance(m, nn.ConvTranspose2d)] == [32, 16]
    outs[0].sum().backward()
    assert neck.resample[0][0].weight.grad.abs().sum() > 0
    assert neck.output_convs[1].conv.weight.grad is None or \
        neck.output_convs[1].conv.weight.grad.abs().sum() == 0


def test_simple_feature_pyramid_rejects_bad_settings():
    with pytest.raises(ValueError, match='scale factor 3'):
        SimpleFeaturePyramid(in_channels=16, scale_factors=(3.0, ))
    with pytest.raises(ValueError, match='num_outs'):
        SimpleFeaturePyramid(in_channels=16, num_outs=3)
    with pytest.raises(ValueError, match='expects 16 input channels'):
        SimpleFeaturePyramid(in_channels=16)(torch.randn(1, 8, 4, 4))


class Segmentor(nn.Module):
    """A model that, like mmseg's EncoderDecoder, has no get_layer_depth of its own."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.decode_head = nn.Linear(32, 2)


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_layer_decay_follows_backbone_depth(scope):
    backbone = VisionTransformer(
        arch=dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64),
        img_size=32,
        patch_size=8)
    model = Segmentor(backbone)
    constructor = build_in_scope(
        scope, 'OPTIM_WRAPPER_CONSTRUCTORS',
        dict(
            type='BackboneLayerDecayOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
            paramwise_cfg=dict(
                layer_decay_rate=0.5,
                norm_decay_mult=0.0,
                custom_keys={'.pos_embed': dict(decay_mult=0.0)})))
    assert isinstance(constructor, BackboneLayerDecayOptimWrapperConstructor)
    groups = {g['param_name']: g for g in constructor(model).optimizer.param_groups}
    assert len(groups) == len(list(model.parameters()))
    # 3 blocks: depth 0 (embeddings), 1..3 (blocks), 4 (final norm, then everything else).
    expected = {
        'backbone.pos_embed': 0,
        'backbone.patch_embed.projection.weight': 0,
        'backbone.layers.0.attn.qkv.weight': 1,
        'backbone.layers.2.ln2.bias': 3,
        'backbone.ln1.weight': 4,
        'decode_head.weight': 4
    }
    for name, depth in expected.items():
        assert math.isclose(groups[name]['lr'], 1e-3 * 0.5**(4 - depth)), name
    assert groups['backbone.pos_embed']['weight_decay'] == 0.0
    assert groups['backbone.layers.0.ln1.weight']['weight_decay'] == 0.0
    assert groups['backbone.layers.0.attn.qkv.weight']['weight_decay'] == 0.05


def test_layer_decay_refuses_backbones_without_depth():
    constructor = BackboneLayerDecayOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)), dict(layer_decay_rate=0.5))
    with pytest.raises(TypeError, match='Conv2d has no get_layer_depth'):
        constructor(Segmentor(nn.Conv2d(3, 32, 3)))
