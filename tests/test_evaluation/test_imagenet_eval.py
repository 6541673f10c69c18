"""kNN and the labeled ImageNet splits of the ImageNet pretraining configs, on a tiny folder in
mmpretrain's ImageNet layout made of real photos."""
import glob
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmpretrain.registry import DATASETS, MODELS
from PIL import Image

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))

import knn as knn_tool  # noqa: E402

CLASSES = ('astronaut', 'chelsea', 'coffee')  # three very different photos, one class each
NUM = dict(train=6, val=3)
IMAGENET_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', 'hssl', '**', '*.py'), recursive=True)
    if p.endswith('_in1k.py'))


@pytest.fixture(scope='module')
def tiny_imagenet(photos_dir, tmp_path_factory):
    """``ROOT/data/imagenet/{train,val}/<class>/*.JPEG``: random crops of mixed sizes of each
    photo (different crops in train and val). Returns ``ROOT``."""
    root = str(tmp_path_factory.mktemp('tiny_imagenet'))
    rng = np.random.default_rng(0)
    for split, num in NUM.items():
        for cls in CLASSES:
            folder = osp.join(root, 'data', 'imagenet', split, f'n0000{CLASSES.index(cls)}_{cls}')
            os.makedirs(folder)
            photo = Image.open(osp.join(photos_dir, f'{cls}.png')).convert('RGB')
            w, h = photo.size
            for i in range(num):
                cw, ch = (int(s * rng.uniform(0.5, 0.9)) for s in (w, h))
                x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                crop = photo.crop((x, y, x + cw, y + ch)).resize(
                    (int(rng.integers(200, 400)), int(rng.integers(200, 400))), Image.BICUBIC)
                crop.save(osp.join(folder, f'{cls}_{split}_{i}.JPEG'), quality=90)
    return root


def test_every_imagenet_config_is_found():
    assert len(IMAGENET_CONFIGS) >= 19  # the HSSL configs and their baselines


@pytest.mark.parametrize('config', IMAGENET_CONFIGS, ids=osp.basename)
def test_imagenet_configs_have_labeled_eval_splits(config, tiny_imagenet, monkeypatch):
    cfg = Config.fromfile(config)
    loaders = cfg.eval_dataloaders
    monkeypatch.chdir(tiny_imagenet)  # the configs' relative data/imagenet/
    for split, prefix in (('train', 'train'), ('test', 'val')):
        dataset = DATASETS.build(loaders[split].dataset)
        assert len(dataset) == NUM[prefix] * len(CLASSES)
        assert [c.split('_')[1] for c in dataset.metainfo['classes']] == list(CLASSES)
        item = dataset[0]
        assert tuple(item['inputs'].shape) == (3, 224, 224)
        assert int(item['data_samples'].gt_label) == 0


@pytest.mark.parametrize('config', [
    'hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k.py',
    'hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k.py'
])
def test_knn_tool_runs_on_imagenet_config_as_documented(config, tiny_imagenet, tmp_path,
                                                        monkeypatch):
    """``knn.py CONFIG CHECKPOINT`` with the shipped config and nothing else about the data."""
    from mmengine.runner.checkpoint import save_checkpoint
    config = osp.join(ROOT, 'configs', 'hssl', config)
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'epoch_0.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(epoch=0)), ckpt)
    monkeypatch.chdir(tiny_imagenet)
    feature = 'patch' if cfg.model.backbone.type == 'ResNet' else 'cls'
    report = knn_tool.main([
        config, ckpt, '--device', 'cpu', '--k', '3', '--feature', feature, '--out',
        str(tmp_path / 'knn.json'), '--cfg-options', 'eval_dataloaders.train.num_workers=0',
        'eval_dataloaders.test.num_workers=0'
    ])
    assert report['num_train'] == NUM['train'] * 3 and report['num_test'] == NUM['val'] * 3
    assert [c.split('_')[1] for c in report['classes']] == list(CLASSES)
    top1 = report['knn'][0]['top1']
    # Even untrained features tell crops of three very different photos apart (chance: 33%).
    assert top1 > 60, report['knn']


def test_list_layout_as_documented(tiny_imagenet, tmp_path, monkeypatch):
    """mmpretrain's meta/{train,val}.txt layout, with the two ann_file options the base names."""
    import shutil
    root = tmp_path / 'data' / 'imagenet'
    shutil.copytree(osp.join(tiny_imagenet, 'data', 'imagenet'), root)
    os.makedirs(root / 'meta')
    for split in ('train', 'val'):
        lines = []
        for label, folder in enumerate(sorted(os.listdir(root / split))):
            for name in sorted(os.listdir(root / split / folder))[:2]:  # a subset: list decides
                lines.append(f'{folder}/{name} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    with open(osp.join(ROOT, 'configs', '_base_', 'datasets', 'imagenet_eval.py')) as f:
        base_text = f.read()
    assert 'ann_file=meta/train.txt' in base_text and 'ann_file=meta/val.txt' in base_text
    cfg = Config.fromfile(IMAGENET_CONFIGS[0])
    cfg.merge_from_dict({
        'eval_dataloaders.train.dataset.ann_file': 'meta/train.txt',
        'eval_dataloaders.test.dataset.ann_file': 'meta/val.txt'
    })
    monkeypatch.chdir(tmp_path)
    for split in ('train', 'test'):
        dataset = DATASETS.build(cfg.eval_dataloaders[split].dataset)
        assert len(dataset) == 2 * len(CLASSES)
        assert [int(dataset[i]['data_samples'].gt_label)
                for i in range(len(dataset))] == [0, 0, 1, 1, 2, 2]
