"""Shared fixtures for downstream transfer: a real short HSSL run and real annotated images."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import demo_cfg, shrink

from mmhssl.engine import leave_out_schedulers_after_training

DEMO_ARCH = dict(embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768)
DEMO_IMG_SIZE = 64  # the global crop size of the shrunk demo run: a 4x4 position grid


def one_iteration_batch(photos_dir: str) -> int:
    """A batch size that makes one epoch over the photos a single (drop_last) iteration."""
    return len(os.listdir(photos_dir)) // 2 + 1


@pytest.fixture(autouse=True)
def mmpretrain_scope_after_each_test():
    """Runners of mmseg / mmdet configs make their scope the default; give it back afterwards."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='session')
def hssl_checkpoint(photos_dir, tmp_path_factory):
    """The training checkpoint of a real HSSL run (the demo config, one iteration) on the photos."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('hssl_run')
    cfg = shrink(demo_cfg(work_dir, photos_dir), global_size=DEMO_IMG_SIZE)
    repeat = cfg.train_dataloader.dataset
    while 'times' not in repeat and 'dataset' in repeat:
        repeat = repeat.dataset
    repeat.times = 1
    cfg.train_dataloader.batch_size = one_iteration_batch(photos_dir)
    cfg.train_dataloader.drop_last = True
    cfg.train_cfg.max_epochs = 1
    assert cfg.model.backbone.arch == DEMO_ARCH
    Runner.from_cfg(cfg).train()
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt), glob.glob(osp.join(work_dir, '*'))
    return ckpt


@pytest.fixture(scope='session')
def hssl_backbone(hssl_checkpoint, tmp_path_factory):
    """The teacher backbone exported by extract_backbone.py (default mmpretrain target)."""
    from model_converters.extract_backbone import main as extract_main
    out = tmp_path_factory.mktemp('exported') / 'hssl_vit-demo.pth'
    return extract_main([hssl_checkpoint, str(out)])


def coins_instances(min_area: int = 100):
    """The scikit-image coins photo and its coin instances (watershed on Sobel edges).

    Returns:
        tuple: The grayscale image (303, 384) and a list of boolean instance masks.
    """
    from scipy import ndimage as ndi
    from skimage import data, filters, measure, segmentation
    image = data.coins()
    markers = np.zeros_like(image)
    markers[image < 30] = 1
    markers[image > 150] = 2
    coins = ndi.binary_fill_holes(segmentation.watershed(filters.sobel(image), markers) == 2)
    labels = measure.label(coins)
    masks = [labels == r.label for r in measure.regionprops(labels) if r.area > min_area]
    return image, masks


def assert_backbone_loaded(backbone: torch.nn.Module,
                           exported: str,
                           prefix: str = 'backbone.') -> None:
    """Every backbone parameter comes from the file, and every weight of the file is used.

    The position embedding is compared after mmpretrain's resize to the backbone's grid.
    """
    from mmpretrain.models.utils import resize_pos_embed

    from mmhssl.utils import load_checkpoint_file
    ckpt = {
        k[len(prefix):]: v
        for k, v in load_checkpoint_file(exported)['state_dict'].items() if k.startswith(prefix)
    }
    own = backbone.state_dict()
    assert sorted(own) == sorted(ckpt), (sorted(set(own) - set(ckpt)), sorted(set(ckpt) - set(own)))
    for key, value in own.items():
        expected = ckpt[key]
        if key == 'pos_embed' and expected.shape != value.shape:
            side = int(round((expected.shape[1] - 1)**0.5))
            expected = resize_pos_embed(
                expected, (side, side),
                backbone.patch_embed.init_out_size,
                mode=backbone.interpolate_mode,
                num_extra_tokens=1)
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=key)


@pytest.fixture(scope='session')
def resnet_backbone(photos_dir, tmp_path_factory):
    """The ResNet-50 teacher of a real one-iteration HSSL-DINO run on the photos, exported by
    extract_backbone.py. The base keeps its full widths (the Mask R-CNN R50 config needs them);
    the auxiliary head and projectors, which never leave the checkpoint, are made small."""
    from conftest import ROOT
    from mmengine.config import Config
    from mmengine.runner import Runner
    from model_converters.extract_backbone import main as extract_main
    work_dir = tmp_path_factory.mktemp('hssl_r50_run')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'hssl', 'hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k.py'))
    cfg.work_dir = str(work_dir)
    assert cfg.model.backbone.type == 'ResNet' and cfg.model.backbone.depth == 50
    cfg.model.neck.update(embed_dims=32, num_heads=2, grid_size=2)  # 64 px crops: a 2x2 C5 map
    cfg.model.head.update(
        aux_in_channels=32, hidden_channels=64, bottleneck_channels=16, out_channels=128)
    cfg.model.loss.out_channels = 128
    inner = cfg.train_dataloader.dataset
    while 'pipeline' not in inner:
        inner = inner.dataset
    crops = inner.pipeline[1]
    crops.num_local_crops = 2
    for view in [*crops.global_pipelines, crops.local_pipeline]:
        for step in view:
            if step['type'] == 'RandomResizedCrop':
                step['scale'] = 64 if step['scale'] == 224 else 32
    inner.update(type='UnlabeledImageFolder', data_root=photos_dir)
    inner.pop('split', None)
    # One iteration (drop_last) and no optimizer state in the checkpoint, for speed.
    cfg.train_dataloader.update(
        batch_size=one_iteration_batch(photos_dir), num_workers=0, persistent_workers=False)
    cfg.train_cfg.max_epochs = 1
    leave_out_schedulers_after_training(cfg)  # as tools/train.py does for a shortened run
    cfg.default_hooks.checkpoint.save_optimizer = False
    Runner.from_cfg(cfg).train()
    out = tmp_path_factory.mktemp('exported_r50') / 'hssl_r50.pth'
    return extract_main([osp.join(work_dir, 'epoch_1.pth'), str(out), '--arch', 'resnet'])
