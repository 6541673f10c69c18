"""Shared fixtures for downstream transfer: a real short HSSL run and real annotated images."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import demo_cfg, shrink

DEMO_ARCH = dict(embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768)
DEMO_IMG_SIZE = 64  # the global crop size of the shrunk demo run: a 4x4 position grid


@pytest.fixture(scope='session')
def hssl_checkpoint(photos_dir, tmp_path_factory):
    """The training checkpoint of a real (one epoch, few iterations) HSSL run on the photos."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('hssl_run')
    cfg = shrink(demo_cfg(work_dir, photos_dir), global_size=DEMO_IMG_SIZE)
    repeat = cfg.train_dataloader.dataset
    while 'times' not in repeat and 'dataset' in repeat:
        repeat = repeat.dataset
    repeat.times = 1  # one pass over the photos: a few iterations
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


def assert_backbone_loaded(backbone: torch.nn.Module, exported: str,
                           prefix: str = 'backbone.') -> None:
    """Every backbone parameter comes from the file, and every weight of the file is used.

    The position embedding is compared after mmpretrain's resize to the backbone's grid.
    """
    from mmpretrain.models.utils import resize_pos_embed
    from mmhssl.utils import load_checkpoint_file
    ckpt = {k[len(prefix):]: v for k, v in load_checkpoint_file(exported)['state_dict'].items()
            if k.startswith(prefix)}
    own = backbone.state_dict()
    assert sorted(own) == sorted(ckpt), (sorted(set(own) - set(ckpt)),
                                         sorted(set(ckpt) - set(own)))
    for key, value in own.items():
        expected = ckpt[key]
        if key == 'pos_embed' and expected.shape != value.shape:
            side = int(round((expected.shape[1] - 1)**0.5))
            expected = resize_pos_embed(expected, (side, side), backbone.patch_embed.init_out_size,
                                        mode=backbone.interpolate_mode, num_extra_tokens=1)
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=key)


@pytest.fixture(scope='session')
def resnet_backbone(photos_dir, tmp_path_factory):
    """A ResNet-50 from a real short self-supervised run (mmpretrain's SimSiam recipe on the
    photos, one iteration), exported by extract_backbone.py like an HSSL checkpoint."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    from model_converters.extract_backbone import main as extract_main
    work_dir = tmp_path_factory.mktemp('simsiam_run')
    import mmpretrain
    cfg = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', 'simsiam',
                                   'simsiam_resnet50_8xb32-coslr-100e_in1k.py'))
    cfg.work_dir = str(work_dir)
    pipeline = cfg.train_dataloader.dataset.pipeline
    for view in pipeline[1]['transforms'][0]:
        if view['type'] == 'RandomResizedCrop':
            view['scale'] = 64
    # One iteration (batch 16, drop_last) and no optimizer state in the checkpoint, for speed.
    cfg.train_dataloader.update(batch_size=16, num_workers=0, persistent_workers=False)
    cfg.default_hooks.checkpoint.save_optimizer = False
    cfg.train_dataloader.dataset = dict(type='UnlabeledImageFolder', data_root=photos_dir,
                                        pipeline=pipeline)
    cfg.train_cfg.max_epochs = 1
    cfg.custom_imports = dict(imports=['mmhssl'], allow_failed_imports=False)
    Runner.from_cfg(cfg).train()
    out = tmp_path_factory.mktemp('exported_r50') / 'simsiam_r50.pth'
    return extract_main([osp.join(work_dir, 'epoch_1.pth'), str(out), '--part', 'student',
                         '--arch', 'resnet'])
