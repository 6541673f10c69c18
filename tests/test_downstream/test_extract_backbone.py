"""extract_backbone.py on a real HSSL checkpoint: layouts, metadata and refusals."""
import hashlib
import os
import os.path as osp

import pytest
import torch
from mmpretrain.models import ResNet, VisionTransformer
from model_converters.extract_backbone import main as extract_main  # noqa: E402  (tools/)

from mmhssl.apis.export import extract_backbone
from mmhssl.apis.layouts import rename_vit
from mmhssl.apis.official import convert_official
from mmhssl.utils import load_checkpoint_file, save_checkpoint_atomic
from .conftest import DEMO_ARCH, DEMO_IMG_SIZE, assert_backbone_loaded

pytestmark = pytest.mark.downstream


def demo_vit(**kw):
    model = VisionTransformer(arch=DEMO_ARCH, img_size=DEMO_IMG_SIZE, patch_size=16, **kw)
    model.eval()
    return model


def test_default_export_loads_every_parameter(hssl_checkpoint, hssl_backbone):
    name = osp.basename(hssl_backbone)
    with open(hssl_backbone, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert name == f'hssl_vit-demo-{digest[:8]}.pth'
    exported = load_checkpoint_file(hssl_backbone)
    assert set(exported) == {'state_dict', 'meta'}
    meta = exported['meta']
    assert meta['part'] == 'teacher' and meta['target'] == 'mmpretrain' and meta['epoch'] == 1
    assert meta['arch']['num_layers'] == 4 and meta['arch']['embed_dims'] == 192
    keys = list(exported['state_dict'])
    assert all(k.startswith('backbone.') for k in keys)
    assert not any(part in k for k in keys for part in ('mask_token', 'neck', 'head'))

    model = demo_vit(init_cfg=dict(type='Pretrained', checkpoint=hssl_backbone, prefix='backbone.'))
    model.init_weights()
    assert_backbone_loaded(model, hssl_backbone)
    teacher = load_checkpoint_file(hssl_checkpoint)['state_dict']
    for key, value in model.state_dict().items():  # the EMA teacher, not the student
        assert torch.equal(value, teacher[f'teacher.backbone.{key}']), key
    student = extract_backbone(load_checkpoint_file(hssl_checkpoint), part='student')
    assert any(not torch.equal(student[k], exported['state_dict'][k]) for k in student)


def test_every_target_holds_the_same_tensors(hssl_checkpoint):
    ckpt = load_checkpoint_file(hssl_checkpoint)
    bare = extract_backbone(ckpt, target='bare')
    assert dict(extract_backbone(ckpt, target='mmdet')) == {
        f'backbone.{k}': v
        for k, v in bare.items()
    }
    mmseg = extract_backbone(ckpt, target='mmseg')
    assert 'layers.3.attn.attn.in_proj_weight' in mmseg and 'ln1.weight' in mmseg
    assert dict(rename_vit(mmseg, 'mmseg', 'mmpretrain')[0]) == dict(bare)
    timm = extract_backbone(ckpt, target='timm')
    assert 'blocks.3.mlp.fc2.weight' in timm and 'norm.bias' in timm
    back, report = convert_official(timm)  # the official-release converter reads it back
    assert report['unmapped'] == [] and dict(back) == dict(bare)


def _run(args, out_dir):
    with pytest.raises(SystemExit) as exc:
        extract_main([*args[:1], str(out_dir / 'backbone.pth'), *args[1:]])
    assert not osp.exists(out_dir) or os.listdir(out_dir) == [], os.listdir(out_dir)
    return str(exc.value)


def test_refusals_name_what_is_missing_and_write_nothing(hssl_checkpoint, tmp_path):
    out = tmp_path / 'out'
    ckpt = load_checkpoint_file(hssl_checkpoint)

    no_teacher = str(tmp_path / 'no_teacher.pth')
    save_checkpoint_atomic(
        dict(
            ckpt,
            state_dict={
                k: v
                for k, v in ckpt['state_dict'].items() if not k.startswith('teacher.')
            }), no_teacher)
    msg = _run([no_teacher], out)
    assert "no teacher backbone (no keys starting with 'teacher.backbone.')" in msg
    assert 'Nothing was written' in msg

    resnet = str(tmp_path / 'resnet.pth')
    save_checkpoint_atomic(
        {
            'state_dict': {
                f'teacher.backbone.{k}': v
                for k, v in ResNet(depth=18).state_dict().items()
            }
        }, resnet)
    msg = _run([resnet, '--arch', 'vit'], out)
    assert 'Expected a vit backbone but the weights are a resnet: missing cls_token' in msg
    msg = _run([resnet, '--target', 'mmseg'], out)
    assert "Target 'mmseg' is a ViT key layout but the backbone is a resnet" in msg
    msg = _run([hssl_checkpoint, '--arch', 'resnet'], out)
    assert 'Expected a resnet backbone but the weights are a vit: missing conv1.weight' in msg

    partial = str(tmp_path / 'partial.pth')
    state = dict(ckpt['state_dict'])
    del state['teacher.backbone.layers.2.attn.proj.weight']
    save_checkpoint_atomic(dict(ckpt, state_dict=state), partial)
    msg = _run([partial], out)
    assert 'The vit backbone is incomplete: missing layers.2.attn.proj.weight' in msg

    corrupt = str(tmp_path / 'corrupt.pth')
    with open(hssl_checkpoint, 'rb') as f:
        data = f.read()
    with open(corrupt, 'wb') as f:
        f.write(data[:len(data) // 3])
    msg = _run([corrupt], out)
    assert 'truncated or is not a PyTorch checkpoint' in msg

    msg = _run([str(tmp_path / 'missing.pth')], out)
    assert 'does not exist' in msg


def test_resnet_backbone_exports_for_mmpretrain_and_mmdet(tmp_path):
    torch.manual_seed(0)
    state = ResNet(depth=18).state_dict()
    ckpt = {'state_dict': {f'backbone.{k}': v for k, v in state.items()}}
    out = extract_backbone(ckpt, part='student', target='mmdet', arch='resnet')
    assert dict(out) == {f'backbone.{k}': v for k, v in state.items()}
