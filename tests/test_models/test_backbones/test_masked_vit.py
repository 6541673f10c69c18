import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _vit(**kw):
    torch.manual_seed(0)
    m = MODELS.build(
        dict(type='MaskedVisionTransformer', arch=ARCH, img_size=32, patch_size=8, **kw))
    m.init_weights()
    m.eval()
    return m


def test_mask_token_replaces_patches_before_position_embedding():
    vit = _vit()
    with torch.no_grad():
        vit.mask_token.normal_()
    x = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, 1, 2] = True
    _, out, hw = vit.forward_tokens(x, mask)
    # Straight computation: patch embedding, swap in the mask token, then CLS and positions.
    tokens, _ = vit.patch_embed(x)
    tokens[0, 1 * 4 + 2] = vit.mask_token[0, 0]
    tokens = torch.cat([vit.cls_token.expand(2, -1, -1), tokens], 1) + vit.pos_embed
    for layer in vit.layers:
        tokens = layer(tokens)
    torch.testing.assert_close(out, vit.ln1(tokens))
    assert hw == (4, 4)


def test_non_square_inputs_and_masks():
    vit = _vit()
    x = torch.randn(2, 3, 32, 48)  # position embedding is resized to the 4 x 6 grid
    mask = torch.rand(2, 4, 6) > 0.5
    pre, out, hw = vit.forward_tokens(x, mask)
    assert hw == (4, 6) and out.shape == (2, 1 + 24, 32)
    with pytest.raises(ValueError, match='not divisible by the patch size 8'):
        vit.forward_tokens(torch.randn(2, 3, 32, 44))
    with pytest.raises(ValueError, match='Mask has 16 entries per image but the input has 24'):
        vit.forward_tokens(x, torch.zeros(2, 4, 4, dtype=torch.bool))


def test_weights_load_into_the_plain_vision_transformer():
    vit = _vit()
    state = {k: v for k, v in vit.state_dict().items() if k != 'mask_token'}
    plain = VisionTransformer(arch=ARCH, img_size=32, patch_size=8)
    plain.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 32, 32)
    plain.eval()
    torch.testing.assert_close(plain(x)[0], vit(x)[0])


@pytest.mark.parametrize('config', [
    'configs/benchmarks/fashion_mnist/'
    'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py',
    'configs/hssl/baselines/ibot_vit-small-p16_8xb32-amp-100e_in1k.py',
    'configs/hssl/hssl-dino_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k.py',
])
def test_ssl_configs_use_the_reference_initialisation(config):
    # DINO/iBOT/HSSL initialise every Linear of the ViT with a truncated normal (std 0.02) and zero
    # bias; mmpretrain's own init (Xavier / Kaiming-uniform Linears, 1e-6 biases) differs.
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(root, config))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    linears = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Linear)]
    assert linears
    for m in linears:
        assert abs(float(m.weight.std()) - 0.02) < 0.002, m
        assert m.bias is None or not m.bias.any()
    for m in model.backbone.modules():
        if isinstance(m, torch.nn.LayerNorm):
            assert (m.weight == 1).all() and not m.bias.any()
    # The teacher starts as an exact copy.
    for (name, t), s in zip(model.teacher.backbone.state_dict().items(),
                            model.backbone.state_dict().values()):
        assert torch.equal(t, s), name


def test_init_mode_is_checked():
    with pytest.raises(ValueError, match="init_mode"):
        _vit(init_mode='xavier')
