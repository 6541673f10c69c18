"""Transformer- and MLP-block auxiliary heads, and what all auxiliary heads share."""
import pytest
import torch
from mmpretrain.registry import MODELS


def _head(**kw):
    torch.manual_seed(0)
    head = MODELS.build(dict(drop_path_rate=0.0, base_depth=2, **kw))
    head.init_weights()
    return head.eval()


def test_transformer_head_cls_and_avg_tokens():
    x = torch.randn(2, 16, 3, 3)
    cls_head = _head(
        type='AuxTransformerHead',
        in_channels=16,
        depth=2,
        num_heads=2,
        grid_size=3,
        out_token='cls',
        return_patch_tokens=True)
    out = cls_head(x)
    assert out['cls'].shape == (2, 16) and out['patch'].shape == (2, 9, 16)
    tokens = torch.cat(
        [cls_head.cls_token.expand(2, -1, -1),
         x.flatten(2).transpose(1, 2) + cls_head.pos_embed],
        dim=1)
    for block in cls_head.blocks:
        tokens = block(tokens)
    torch.testing.assert_close(out['cls'], cls_head.norm(tokens[:, 0]))
    avg_head = _head(
        type='AuxTransformerHead',
        in_channels=16,
        depth=2,
        num_heads=2,
        grid_size=3,
        out_token='avg')
    assert avg_head.cls_token is None
    tokens = x.flatten(2).transpose(1, 2) + avg_head.pos_embed
    for block in avg_head.blocks:
        tokens = block(tokens)
    torch.testing.assert_close(avg_head(x)['cls'], avg_head.norm(tokens.mean(1)))


def test_transformer_head_projects_width_and_resizes_position_embedding():
    head = _head(
        type='AuxTransformerHead', in_channels=64, embed_dims=16, depth=1, num_heads=4, grid_size=7)
    assert head.out_channels == 16 and head.input_proj.weight.shape == (16, 64, 1, 1)
    # A local crop gives a smaller map than the 7x7 grid the embedding is defined on.
    assert head(torch.randn(2, 64, 3, 3))['cls'].shape == (2, 16)
    assert head(torch.randn(2, 64, 7, 7))['cls'].shape == (2, 16)


@pytest.mark.parametrize('cfg', [
    dict(type='AuxTransformerHead', num_heads=2, grid_size=2),
    dict(type='AuxMLPHead'),
])
def test_first_block_without_shortcut_lets_nothing_of_the_input_through(cfg):
    head = _head(in_channels=16, depth=2, **cfg)
    first, second = head.blocks
    assert not first.shortcut and second.shortcut
    x = torch.randn(2, 4, 16)
    with torch.no_grad():
        for block in (first, second):  # zero every branch's output projection
            for name, p in block.named_parameters():
                if name.startswith(('attn.proj', 'mlp.2')):
                    p.zero_()
        assert torch.count_nonzero(first(x)) == 0
        torch.testing.assert_close(second(x), x)


def test_mlp_head_mixes_no_positions_but_the_convnext_head_does():
    x = torch.randn(1, 16, 4, 4)
    y = x.clone()
    y[0, :, 0, 0] += torch.randn(16)  # change one position only
    mlp = _head(type='AuxMLPHead', in_channels=16, depth=2, return_patch_tokens=True)
    a, b = mlp(x)['patch'], mlp(y)['patch']
    assert not torch.allclose(a[:, 0], b[:, 0])
    torch.testing.assert_close(a[:, 1:], b[:, 1:])
    conv = _head(
        type='AuxConvNeXtHead', in_channels=16, depth=2, kernel_size=3, return_patch_tokens=True)
    assert not torch.allclose(conv(x)['patch'][:, 1], conv(y)['patch'][:, 1])


def test_patch_tokens_are_not_computed_unless_asked():
    for cfg in (dict(type='AuxConvNeXtHead', kernel_size=3), dict(type='AuxMLPHead'),
                dict(type='AuxTransformerHead', num_heads=2, grid_size=4)):
        assert set(_head(in_channels=16, depth=1, **cfg)(torch.randn(2, 16, 4, 4))) == {'cls'}


def test_heads_declare_the_geometries_they_accept():
    conv = MODELS.get('AuxConvNeXtHead')
    assert 'vector' not in conv.input_types and 'feature_map' in conv.input_types
    assert 'vector' in MODELS.get('AuxMLPHead').input_types
    assert 'token_grid' in MODELS.get('AuxTransformerHead').input_types


def test_bad_head_settings_fail_clearly():
    with pytest.raises(ValueError, match='not divisible by num_heads=3'):
        MODELS.build(dict(type='AuxTransformerHead', in_channels=16, num_heads=3))
    with pytest.raises(ValueError, match="out_token must be one of"):
        MODELS.build(dict(type='AuxTransformerHead', in_channels=16, out_token='max'))
    with pytest.raises(ValueError, match='depth must be >= 1'):
        MODELS.build(dict(type='AuxMLPHead', in_channels=16, depth=0))
