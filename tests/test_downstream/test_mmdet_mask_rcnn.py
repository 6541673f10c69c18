"""The shipped mmdet Mask R-CNN configs on exported weights: every backbone parameter loaded, one
training iteration on the coins photo with its coin instance masks."""
import copy
import json
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from mmhssl.utils import load_checkpoint_file
from .conftest import DEMO_ARCH, assert_backbone_loaded, coins_instances

pytestmark = pytest.mark.downstream

CONFIGS = osp.join(ROOT, 'projects/mmdet/configs')
VIT_CONFIG = osp.join(CONFIGS, 'mask-rcnn_hssl-vit-base-p16_simple-fpn_1x_coco.py')
R50_CONFIG = osp.join(CONFIGS, 'mask-rcnn_hssl-r50_fpn_1x_coco.py')


def write_coins_coco(root: str) -> str:
    """The coins photo as a one-image COCO instance-segmentation set (RLE masks)."""
    from pycocotools import mask as mask_utils
    image, masks = coins_instances()
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    Image.fromarray(image).save(osp.join(root, 'images', 'coins.png'))
    anns = []
    for i, m in enumerate(masks, 1):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
        anns.append(
            dict(
                id=i,
                image_id=1,
                category_id=1,
                bbox=[x, y, w, h],
                iscrowd=0,
                area=float(m.sum()),
                segmentation=dict(size=rle['size'], counts=rle['counts'].decode())))
    coco = dict(
        images=[dict(id=1, file_name='coins.png', height=image.shape[0], width=image.shape[1])],
        annotations=anns,
        categories=[dict(id=1, name='coin')])
    ann_file = osp.join(root, 'coins.json')
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    return ann_file


def tiny_cfg(config: str, checkpoint: str, data_root: str, work_dir: str) -> Config:
    """A shipped config with small images, one class, fewer RoIs and one iteration."""
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    cfg.model.roi_head.bbox_head.num_classes = 1
    cfg.model.roi_head.mask_head.num_classes = 1
    cfg.model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    cfg.model.train_cfg.rcnn.sampler.num = 64
    pipeline = copy.deepcopy(cfg.train_pipeline)
    for step in pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (256, 192)
    cfg.train_dataloader.update(batch_size=1, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset = dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='coins.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=('coin', )),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=pipeline)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=100)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.logger.interval = 1
    return cfg


def train_one_iteration(cfg: Config, checkpoint: str):
    runner = Runner.from_cfg(cfg)
    model = runner.model
    model.init_weights()
    assert_backbone_loaded(model.backbone, checkpoint)
    runner.train()
    hub = runner.message_hub
    for name in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert math.isfinite(hub.get_scalar(f'train/{name}').current()), name
    return runner


def test_vit_simple_fpn_mask_rcnn(hssl_backbone, tmp_path):
    write_coins_coco(str(tmp_path / 'data'))
    cfg = tiny_cfg(VIT_CONFIG, hssl_backbone, str(tmp_path / 'data'), str(tmp_path / 'work'))
    assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer'
    assert cfg.model.neck.type == 'SimpleFeaturePyramid'
    cfg.model.backbone.update(arch=DEMO_ARCH, img_size=128, out_indices=(3, ))
    cfg.model.neck.in_channels = DEMO_ARCH['embed_dims']
    runner = train_one_iteration(cfg, hssl_backbone)
    ckpt = load_checkpoint_file(hssl_backbone)['state_dict']
    trained = runner.model.backbone.state_dict()
    assert not torch.equal(trained['layers.0.attn.qkv.weight'],
                           ckpt['backbone.layers.0.attn.qkv.weight'])
    groups = {g['param_name']: g for g in runner.optim_wrapper.optimizer.param_groups}
    assert math.isclose(groups['backbone.layers.0.ln1.weight']['lr_scale'], 0.7**4)
    assert math.isclose(groups['neck.lateral_convs.0.conv.weight']['lr_scale'], 1.0)


def test_resnet50_fpn_mask_rcnn(resnet_backbone, tmp_path):
    write_coins_coco(str(tmp_path / 'data'))
    cfg = tiny_cfg(R50_CONFIG, resnet_backbone, str(tmp_path / 'data'), str(tmp_path / 'work'))
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    train_one_iteration(cfg, resnet_backbone)
