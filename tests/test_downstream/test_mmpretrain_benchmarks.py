"""The mmpretrain linear-probe and fine-tune configs on exported weights."""
import math
import os.path as osp

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS, TRANSFORMS
from PIL import Image

from mmhssl.utils import load_checkpoint_file
from .conftest import DEMO_ARCH, DEMO_IMG_SIZE, assert_backbone_loaded

pytestmark = pytest.mark.downstream

BENCHMARKS = osp.join(ROOT, 'configs/benchmarks/imagenet')
CONFIGS = {
    'vit-base-p16_8xb128-linear-coslr-100e_in1k.py': ('base', 'linear'),
    'vit-small-p16_8xb128-linear-coslr-100e_in1k.py': ('deit-small', 'linear'),
    'vit-base-p16_8xb128-coslr-100e_in1k.py': ('base', 0.65),
    'vit-small-p16_8xb128-coslr-100e_in1k.py': ('deit-small', 0.75),
}


def labelled_photos(photos_dir: str, pipeline: list) -> dict:
    """The bundled photos through the config's training pipeline; label 1 for colour photos."""
    steps = [TRANSFORMS.build(t) for t in pipeline]
    samples = []
    for name in ('astronaut', 'chelsea', 'coffee', 'camera', 'moon', 'coins'):
        path = osp.join(photos_dir, f'{name}.png')
        results = dict(img_path=path, gt_label=int(Image.open(path).mode == 'RGB'))
        for step in steps:
            results = step(results)
        samples.append(results)
    return default_collate(samples)


@pytest.mark.parametrize('config', list(CONFIGS))
def test_benchmark_config_loads_every_parameter_and_trains(config, hssl_backbone, photos_dir):
    arch, kind = CONFIGS[config]
    cfg = Config.fromfile(osp.join(BENCHMARKS, config))
    backbone = cfg.model.backbone
    assert backbone.arch == arch and backbone.final_norm and backbone.out_type == 'cls_token'
    assert backbone.init_cfg.prefix == 'backbone.'
    backbone.update(arch=DEMO_ARCH, img_size=DEMO_IMG_SIZE)
    backbone.init_cfg.checkpoint = hssl_backbone
    if kind == 'linear':
        assert backbone.frozen_stages == 12
        backbone.frozen_stages = DEMO_ARCH['num_layers']
    cfg.model.head.update(in_channels=DEMO_ARCH['embed_dims'], num_classes=2)
    # What the runner does with the top-level preprocessor of mmpretrain configs.
    cfg.model.data_preprocessor = dict(cfg.data_preprocessor, num_classes=2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert_backbone_loaded(model.backbone, hssl_backbone)

    for step in cfg.train_pipeline:
        if 'scale' in step and step['type'] == 'RandomResizedCrop':
            step['scale'] = DEMO_IMG_SIZE
    batch = labelled_photos(photos_dir, cfg.train_pipeline)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = model.train_step(batch, wrapper)
    assert math.isfinite(log['loss'].item())
    after = model.state_dict()
    backbone_changed = [
        k for k in after if k.startswith('backbone.') and not torch.equal(after[k], before[k])
    ]
    assert not torch.equal(after['head.fc.weight'], before['head.fc.weight'])
    if kind == 'linear':
        assert backbone_changed == []  # the probe never touches the pretrained weights
        exported = load_checkpoint_file(hssl_backbone)['state_dict']
        for k, v in model.backbone.state_dict().items():
            assert torch.equal(v, exported[f'backbone.{k}']), k
    else:
        assert 'backbone.layers.0.attn.qkv.weight' in backbone_changed
        groups = {g['param_name']: g for g in wrapper.optimizer.param_groups}
        # 4 blocks -> depths 0..5; the head keeps the base lr.
        assert math.isclose(groups['backbone.layers.1.ffn.layers.1.weight']['lr_scale'], kind**3)
        assert math.isclose(groups['head.fc.weight']['lr_scale'], 1.0)
