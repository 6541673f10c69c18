"""The documented export command writes the very file that the shipped downstream configs load."""
import glob
import os
import os.path as osp
import re

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from model_converters.extract_backbone import main as extract_main  # noqa: E402  (tools/)

from mmhssl.utils import load_checkpoint_file
from .conftest import DEMO_ARCH, DEMO_IMG_SIZE, assert_backbone_loaded

DOWNSTREAM_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'benchmarks', 'imagenet', '*.py')))
VIT_B = 'pretrain/hssl_vit-base-p16.pth'


def readme_exports() -> list:
    """``(training checkpoint, OUT, options)`` of every extract_backbone.py command in the README's
    downstream section."""
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    section = re.search(r'^## Use the weights downstream\n(.*?)^## ', text, re.S | re.M).group(1)
    commands = re.findall(r'^python tools/model_converters/extract_backbone\.py (.*?)$',
                          section.replace('\\\n', ' '), re.M)
    return [tuple(c.split()[:2]) + (c.split()[2:], ) for c in commands]


def shipped_checkpoint(config: str) -> str:
    with open(config) as f:
        return re.search(r"^checkpoint = '([^']+)'", f.read(), re.M).group(1)


@pytest.mark.parametrize('config', DOWNSTREAM_CONFIGS, ids=osp.basename)
def test_every_downstream_config_loads_a_name_the_export_writes(config):
    path = shipped_checkpoint(config)
    with open(config) as f:
        text = f.read()
    # The config's own header gives the exact command that writes the file it loads.
    assert re.search(
        rf'^#   python tools/model_converters/extract_backbone\.py CKPT '
        rf'{re.escape(path)}( --arch resnet)?$', text, re.M), config
    # ViT-B/16 and ResNet-50 are documented in the README; the ViT-S/16 name is named there.
    documented = {out for _, out, _ in readme_exports()}
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        assert path in documented or f'`{path}`' in f.read()


def test_readme_documents_the_stable_names():
    exports = readme_exports()
    expected = [(VIT_B, []), ('pretrain/hssl_r50.pth', ['--arch', 'resnet'])]
    assert [(out, opts) for _, out, opts in exports] == expected


def test_stable_name_follows_the_latest_export(hssl_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs('pretrain')
    first = extract_main([hssl_checkpoint, VIT_B])
    assert osp.dirname(first) == 'pretrain'
    assert re.fullmatch(r'hssl_vit-base-p16-[0-9a-f]{8}\.pth', osp.basename(first))
    assert osp.islink(VIT_B) and os.readlink(VIT_B) == osp.basename(first)  # relative link
    assert load_checkpoint_file(VIT_B)['meta']['part'] == 'teacher'
    # A second export (here the student) moves the stable name; the first file stays.
    second = extract_main([hssl_checkpoint, VIT_B, '--part', 'student'])
    assert second != first and osp.isfile(first)
    assert os.readlink(VIT_B) == osp.basename(second)
    assert load_checkpoint_file(VIT_B)['meta']['part'] == 'student'
    # --no-link leaves the stable name alone.
    third = extract_main([hssl_checkpoint, VIT_B, '--no-link', '--target', 'timm'])
    assert osp.isfile(third) and os.readlink(VIT_B) == osp.basename(second)
    assert sorted(os.listdir('pretrain')) == sorted(
        osp.basename(p) for p in (first, second, third, VIT_B))
    # The folder moves with its link intact.
    os.rename('pretrain', 'moved')
    assert load_checkpoint_file('moved/hssl_vit-base-p16.pth')['meta']['part'] == 'student'


def test_stable_name_is_a_copy_without_symbolic_links(hssl_checkpoint, tmp_path, monkeypatch):

    def no_symlinks(*args, **kwargs):  # a file system without them (e.g. some network shares)
        raise OSError(95, 'Operation not supported')

    monkeypatch.setattr(os, 'symlink', no_symlinks)
    out = tmp_path / 'hssl_vit-base-p16.pth'
    hashed = extract_main([hssl_checkpoint, str(out)])
    assert not osp.islink(out) and osp.isfile(out)
    with open(out, 'rb') as a, open(hashed, 'rb') as b:
        assert a.read() == b.read()


def test_folder_as_output_is_refused_before_writing(hssl_checkpoint, tmp_path):
    (tmp_path / 'hssl.pth').mkdir()
    with pytest.raises(SystemExit, match=r"(?s)hssl\.pth' is a folder.*Nothing was written"):
        extract_main([hssl_checkpoint, str(tmp_path / 'hssl.pth')])
    assert os.listdir(tmp_path) == ['hssl.pth']


@pytest.fixture
def exported_as_documented(hssl_checkpoint, tmp_path, monkeypatch):
    """The README's ViT-B/16 command, run in a fresh project folder on a real training
    checkpoint; the relative paths of the shipped configs resolve from there."""
    monkeypatch.chdir(tmp_path)
    (src, out, opts), = [e for e in readme_exports() if e[1] == VIT_B]
    assert src.endswith('.pth') and opts == []
    extract_main([hssl_checkpoint, out])
    return out


@pytest.mark.parametrize(
    'config',
    ['vit-base-p16_8xb128-linear-coslr-100e_in1k.py', 'vit-base-p16_8xb128-coslr-100e_in1k.py'])
def test_mmpretrain_benchmarks_load_the_export_unchanged(config, exported_as_documented):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'benchmarks', 'imagenet', config))
    backbone = cfg.model.backbone
    assert backbone.init_cfg.checkpoint == exported_as_documented  # nothing overridden
    backbone.update(arch=DEMO_ARCH, img_size=DEMO_IMG_SIZE)  # the demo run's ViT
    if backbone.get('frozen_stages'):
        backbone.frozen_stages = DEMO_ARCH['num_layers']
    cfg.model.head.update(in_channels=DEMO_ARCH['embed_dims'], num_classes=2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert_backbone_loaded(model.backbone, exported_as_documented)


def test_mmseg_upernet_loads_the_export_unchanged(exported_as_documented, tmp_path):
    from mmengine.runner import Runner

    from .test_mmseg_upernet import CONFIG, tiny_cfg
    shipped = Config.fromfile(CONFIG).model.backbone.init_cfg.checkpoint
    assert shipped == exported_as_documented
    cfg = tiny_cfg(shipped, str(tmp_path / 'data'), str(tmp_path / 'work'))
    model = Runner.from_cfg(cfg).model
    model.init_weights()
    assert_backbone_loaded(model.backbone, shipped)


def test_mmdet_vit_mask_rcnn_loads_the_export_unchanged(exported_as_documented, tmp_path):
    from mmengine.runner import Runner

    from .test_mmdet_mask_rcnn import VIT_CONFIG, tiny_cfg
    shipped = Config.fromfile(VIT_CONFIG).model.backbone.init_cfg.checkpoint
    assert shipped == exported_as_documented
    cfg = tiny_cfg(VIT_CONFIG, shipped, str(tmp_path / 'data'), str(tmp_path / 'work'))
    cfg.model.backbone.update(arch=DEMO_ARCH, img_size=128, out_indices=(3, ))
    cfg.model.neck.in_channels = DEMO_ARCH['embed_dims']
    model = Runner.from_cfg(cfg).model
    model.init_weights()
    assert_backbone_loaded(model.backbone, shipped)
    # The teacher of the real run, not some other weights.
    teacher = load_checkpoint_file(exported_as_documented)['state_dict']
    torch.testing.assert_close(
        model.backbone.layers[0].attn.qkv.weight,
        teacher['backbone.layers.0.attn.qkv.weight'],
        rtol=0,
        atol=0)
