"""The shipped mmseg UperNet config on exported weights: every backbone parameter loaded, one
training iteration on the coins photo with its coin masks."""
import copy
import math
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from mmhssl.apis.export import export_backbone
from mmhssl.utils import load_checkpoint_file, use_safe_checkpoint_loader
from .conftest import DEMO_ARCH, DEMO_IMG_SIZE, assert_backbone_loaded, coins_instances

pytestmark = pytest.mark.downstream

CONFIG = osp.join(
    ROOT, 'projects/mmseg/configs/'
    'upernet_hssl-vit-base-p16_mln_8xb2-160k_ade20k-512x512.py')
CROP = 128  # an 8x8 patch grid: the 4x4 pretraining position embedding gets resized at load


def write_coins_segmentation(root: str) -> None:
    """The coins photo and its semantic map (0 background, 1 coin), and the photo upside down."""
    image, masks = coins_instances()
    label = np.any(masks, axis=0).astype(np.uint8)
    for name, (img, lab) in dict(
            coins=(image, label), coins_flipped=(image[::-1], label[::-1])).items():
        for folder, arr in (('images', img), ('annotations', lab)):
            path = osp.join(root, folder, f'{name}.png')
            Image.fromarray(np.ascontiguousarray(arr)).save(_mkdir(path))


def _mkdir(path: str) -> str:
    import os
    os.makedirs(osp.dirname(path), exist_ok=True)
    return path


def tiny_cfg(checkpoint: str, data_root: str, work_dir: str) -> Config:
    """The shipped config with a demo-sized ViT, small crops, 2 classes and one iteration."""
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = work_dir
    backbone = cfg.model.backbone
    backbone.arch = DEMO_ARCH
    backbone.img_size = (CROP, CROP)
    backbone.out_indices = (0, 1, 2, 3)
    backbone.init_cfg.checkpoint = checkpoint
    cfg.model.neck.in_channels = [DEMO_ARCH['embed_dims']] * 4
    cfg.model.neck.out_channels = 64
    cfg.model.decode_head.update(in_channels=[64] * 4, channels=32, num_classes=2)
    cfg.model.auxiliary_head.update(in_channels=64, channels=16, num_classes=2)
    cfg.model.data_preprocessor.size = (CROP, CROP)
    cfg.model.test_cfg.update(crop_size=(CROP, CROP), stride=(CROP // 2, CROP // 2))
    pipeline = copy.deepcopy(cfg.train_pipeline)
    for step in pipeline:
        if step['type'] == 'LoadAnnotations':
            step.pop('reduce_zero_label')  # ADE20K's; the dataset below says False
        elif step['type'] == 'RandomResize':
            step['scale'] = (4 * CROP, CROP)
        elif step['type'] == 'RandomCrop':
            step['crop_size'] = (CROP, CROP)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset = dict(
        type='BaseSegDataset',
        data_root=data_root,
        data_prefix=dict(img_path='images', seg_map_path='annotations'),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        metainfo=dict(classes=('background', 'coin'), palette=[[0, 0, 0], [255, 215, 0]]),
        pipeline=pipeline)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1, val_interval=100)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 100
    return cfg


def test_upernet_loads_every_backbone_parameter_and_trains(hssl_backbone, tmp_path):
    write_coins_segmentation(str(tmp_path / 'data'))
    cfg = tiny_cfg(hssl_backbone, str(tmp_path / 'data'), str(tmp_path / 'work'))
    assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer'
    assert cfg.optim_wrapper.constructor == 'BackboneLayerDecayOptimWrapperConstructor'
    runner = Runner.from_cfg(cfg)
    model = runner.model
    model.init_weights()
    assert_backbone_loaded(model.backbone, hssl_backbone)

    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    seg_loss = runner.message_hub.get_scalar('train/decode.loss_ce').current()
    assert math.isfinite(seg_loss)
    ckpt = load_checkpoint_file(hssl_backbone)['state_dict']
    trained = model.backbone.state_dict()
    assert not torch.equal(trained['layers.3.attn.qkv.weight'],
                           ckpt['backbone.layers.3.attn.qkv.weight'])
    # Layer-wise decay: 4 blocks -> depths 0..5; block i at lr_scale 0.65 ** (4 - i).
    groups = {g['param_name']: g for g in runner.optim_wrapper.optimizer.param_groups}
    for name, depth in (('backbone.cls_token', 0), ('backbone.layers.0.ln1.weight', 1),
                        ('backbone.layers.3.ffn.layers.1.weight',
                         4), ('decode_head.conv_seg.weight', 5)):
        assert math.isclose(groups[name]['lr_scale'], 0.65**(5 - depth)), name
    assert groups['backbone.pos_embed']['weight_decay'] == 0.0
    assert groups['backbone.layers.0.ln1.weight']['weight_decay'] == 0.0


def test_mmseg_target_loads_into_mmseg_vit_with_equal_features(hssl_checkpoint, tmp_path):
    from mmpretrain.models import VisionTransformer
    from mmseg.models.backbones import VisionTransformer as MMSegViT
    path, _ = export_backbone(hssl_checkpoint, str(tmp_path / 'mmseg.pth'), target='mmseg')
    kw = dict(
        embed_dims=DEMO_ARCH['embed_dims'],
        num_layers=DEMO_ARCH['num_layers'],
        num_heads=DEMO_ARCH['num_heads'])
    theirs = MMSegViT(
        img_size=(DEMO_IMG_SIZE, DEMO_IMG_SIZE),
        patch_size=16,
        mlp_ratio=4,
        out_indices=(1, 3),
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        patch_bias=True,  # mmseg's default False would drop the bias
        init_cfg=dict(type='Pretrained', checkpoint=path),
        **kw)
    theirs.init_weights()
    state = load_checkpoint_file(path)['state_dict']
    own = theirs.state_dict()
    assert sorted(own) == sorted(state)
    for key, value in own.items():
        assert torch.equal(value, state[key]), key

    use_safe_checkpoint_loader()  # a training checkpoint, unlike the export
    ours = VisionTransformer(
        arch=DEMO_ARCH,
        img_size=DEMO_IMG_SIZE,
        patch_size=16,
        out_indices=(1, 3),
        out_type='featmap',
        final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=hssl_checkpoint, prefix='teacher.backbone.'))
    ours.init_weights()
    theirs.eval()
    ours.eval()
    x = torch.randn(2, 3, DEMO_IMG_SIZE, DEMO_IMG_SIZE)
    with torch.no_grad():
        for a, b in zip(theirs(x), ours(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
