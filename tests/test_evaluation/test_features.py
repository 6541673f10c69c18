import pytest
import torch
from conftest import tiny_model_cfg
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmhssl.apis import export_backbone
from mmhssl.evaluation import backbone_features, features_from_config, load_backbone
from mmhssl.utils import load_checkpoint_file


def _vit():
    torch.manual_seed(0)
    cfg = tiny_model_cfg()['backbone']
    cfg['arch'] = dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64)
    bb = MODELS.build(cfg)
    bb.init_weights()
    bb.eval()
    return bb


def test_vit_features_are_the_normed_tokens_of_the_last_blocks():
    bb = _vit()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        _, tokens, _ = bb.forward_tokens(x)
        torch.testing.assert_close(backbone_features(bb, x, 'cls'), tokens[:, 0])
        torch.testing.assert_close(backbone_features(bb, x, 'patch'), tokens[:, 1:].mean(1))
        # Walk the blocks by hand: every block's class token through the final norm.
        h, _ = bb.patch_embed(x)
        h = bb.pre_norm(torch.cat([bb.cls_token.expand(3, -1, -1), h], 1) + bb.pos_embed)
        per_block = []
        for layer in bb.layers:
            h = layer(h)
            per_block.append(bb.ln1(h)[:, 0])
        concat = backbone_features(bb, x, 'concat', num_blocks=2)
    assert concat.shape == (3, 64)
    torch.testing.assert_close(concat, torch.cat(per_block[-2:], 1))
    with pytest.raises(ValueError, match='num_blocks must be in 1..3'):
        backbone_features(bb, x, 'concat', num_blocks=4)


def test_cnn_backbones_give_pooled_maps_only():
    resnet = MODELS.build(dict(type='ResNet', depth=18, out_indices=(3, )))
    resnet.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = backbone_features(resnet, x, 'patch')
        torch.testing.assert_close(feats, resnet(x)[-1].mean((2, 3)))
    with pytest.raises(ValueError, match='supports only feature="patch"'):
        backbone_features(resnet, x, 'cls')


def _features(cfg_file, ckpt, **kw):
    cfg = Config.fromfile(cfg_file)
    cfg.eval_dataloaders.train.dataset.update(split='test', num_per_class=3)
    cfg.eval_dataloaders.test.dataset.update(num_per_class=2)
    return features_from_config(cfg, ckpt, device='cpu', **kw)


@pytest.mark.slow
def test_every_checkpoint_layout_gives_the_same_features(trained_run, tmp_path):
    cfg_file, ckpt = trained_run
    ref = _features(cfg_file, ckpt)
    assert ref['train'][0].shape == (30, 32) and ref['classes'][1] == 'Trouser'
    student = _features(cfg_file, ckpt, part='student')
    assert not torch.allclose(student['train'][0], ref['train'][0])  # EMA teacher != student
    exported, _ = export_backbone(ckpt, str(tmp_path / 'teacher.pth'))
    bare, _ = export_backbone(ckpt, str(tmp_path / 'bare.pth'), target='bare')
    plain = tmp_path / 'plain.pth'  # a bare state dict, as third-party weights often are
    torch.save(load_checkpoint_file(bare)['state_dict'], plain)
    for path in (exported, bare, str(plain)):
        torch.testing.assert_close(_features(cfg_file, path)['train'][0], ref['train'][0])
    torch.testing.assert_close(_features(cfg_file, ckpt)['test'][1], ref['test'][1])


@pytest.mark.slow
def test_checkpoint_without_backbone_is_a_clear_error(trained_run, tmp_path):
    cfg_file, ckpt = trained_run
    state = load_checkpoint_file(ckpt)['state_dict']
    heads_only = tmp_path / 'heads.pth'
    torch.save(
        dict(state_dict={
            k: v
            for k, v in state.items() if k.startswith('head.')
        }), heads_only)
    backbone_cfg = Config.fromfile(cfg_file).model.backbone
    with pytest.raises(KeyError, match=r"no backbone weights.*top-level parts are \['head'\]"):
        load_backbone(backbone_cfg, str(heads_only))
    wider = dict(
        backbone_cfg, arch=dict(embed_dims=48, num_layers=2, num_heads=2, feedforward_channels=96))
    with pytest.raises(KeyError, match='do not fit the config'):
        load_backbone(wider, ckpt)
    deeper = dict(
        backbone_cfg, arch=dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64))
    with pytest.raises(KeyError, match=r"missing \['layers.2"):
        load_backbone(deeper, ckpt)


@pytest.mark.slow
def test_config_without_eval_data_is_a_clear_error(trained_run):
    cfg_file, ckpt = trained_run
    cfg = Config.fromfile(cfg_file)
    cfg.pop('eval_dataloaders')
    with pytest.raises(KeyError, match='no eval_dataloaders'):
        features_from_config(cfg, ckpt)
