"""Official timm-style releases -> our layout -> the same features."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer
from model_converters.import_official import main as import_main  # noqa: E402  (tools/)
from torch import nn

from mmhssl.apis.layouts import rename_vit
from mmhssl.apis.official import convert_official
from mmhssl.utils.checkpoint import load_checkpoint_file

pytestmark = pytest.mark.downstream

DIM, DEPTH, HEADS, PATCH, IMG = 32, 3, 4, 8, 32


class Block(nn.Module):
    """A pre-norm transformer block written from the ViT formulas, with timm's names."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.attn.qkv(self.norm1(x)).reshape(B, N, 3, self.heads,
                                                       C // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (C // self.heads)**-0.5).softmax(-1)
        x = x + self.attn.proj((attn @ v).transpose(1, 2).reshape(B, N, C))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class TimmStyleViT(nn.Module):
    """The official iBOT/HSSL ViT layout: patch_embed.proj, cls_token, pos_embed, blocks, norm."""

    def __init__(self, dim=DIM, depth=DEPTH, heads=HEADS, patch=PATCH, img=IMG):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * .02)
        self.grid = img // patch
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid**2, dim) * .02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.masked_embed = nn.Parameter(torch.zeros(1, dim))  # iBOT's mask token
        for name, p in self.named_parameters():  # non-trivial norms and biases
            if p.ndim == 1:
                nn.init.normal_(p, 1. if name.endswith('weight') else 0., 0.2)

    def forward_features(self, x):
        x = self.patch_embed.proj(x)
        h, w = x.shape[-2:]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], 1)
        pos = self.pos_embed[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(h, w), mode='bicubic', align_corners=False)
        x = x + torch.cat([self.pos_embed[:, :1], pos.flatten(2).transpose(1, 2)], 1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def official_training_checkpoint(teacher: nn.Module, student: nn.Module) -> dict:
    """What iBOT's / HSSL's main script saves: DDP student, plain teacher, heads beside the ViT."""
    head = {
        'head.mlp.0.weight': torch.randn(16, DIM),
        'head.last_layer.weight_g': torch.ones(1),
        'head.aux_mlp.0.weight': torch.randn(16, DIM)
    }
    return dict(
        teacher={
            **{
                f'backbone.{k}': v
                for k, v in teacher.state_dict().items()
            },
            **head
        },
        student={
            **{
                f'module.backbone.{k}': v
                for k, v in student.state_dict().items()
            },
            **{
                f'module.{k}': v
                for k, v in head.items()
            }
        },
        epoch=100,
        ibot_loss={'center': torch.zeros(1, 16)})


def ours(img_size=IMG, **kw):
    model = VisionTransformer(
        arch=dict(embed_dims=DIM, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=4 * DIM),
        img_size=img_size,
        patch_size=PATCH,
        out_type='raw',
        **kw)
    model.eval()  # mmpretrain backbones' train() returns None
    return model


@pytest.fixture
def official(tmp_path):
    torch.manual_seed(0)
    teacher, student = TimmStyleViT().eval(), TimmStyleViT().eval()
    path = str(tmp_path / 'checkpoint.pth')
    torch.save(official_training_checkpoint(teacher, student), path)
    return path, teacher, student


@pytest.mark.parametrize('part', ['teacher', 'student'])
def test_round_trip_gives_the_official_features(official, tmp_path, part):
    path, teacher, student = official
    out, report = import_main([path, str(tmp_path / f'{part}.pth'), '--part', part])
    model = ours(init_cfg=dict(type='Pretrained', checkpoint=out, prefix='backbone.'))
    model.init_weights()
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        expected = (teacher if part == 'teacher' else student).forward_features(x)
        other = (student if part == 'teacher' else teacher).forward_features(x)
        got = model(x)[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, other, atol=1e-3)  # the requested part, not the other one
    prefix = 'backbone.' if part == 'teacher' else 'module.backbone.'
    head = 'head' if part == 'teacher' else 'module.head'
    assert sorted(report['unmapped']) == sorted([
        f'{prefix}masked_embed', f'{head}.mlp.0.weight', f'{head}.last_layer.weight_g',
        f'{head}.aux_mlp.0.weight'
    ])
    assert report['mapped'] == len(ours().state_dict())
    meta = load_checkpoint_file(out)['meta']
    assert meta['arch']['num_layers'] == DEPTH and meta['arch']['embed_dims'] == DIM


def test_position_embedding_for_another_grid(official, tmp_path):
    path, teacher, _ = official
    out, report = import_main([path, str(tmp_path / 'big.pth'), '--img-size', '64'])
    assert report['grid'] == ((4, 4), (8, 8))
    state = load_checkpoint_file(out)['state_dict']
    assert state['backbone.pos_embed'].shape == (1, 1 + 64, DIM)
    model = ours(img_size=64, init_cfg=dict(type='Pretrained', checkpoint=out, prefix='backbone.'))
    model.init_weights()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], teacher.forward_features(x), rtol=1e-5, atol=1e-5)


def test_released_backbone_and_timm_target_round_trip(official, tmp_path):
    _, teacher, _ = official
    path = str(tmp_path / 'release.pth')
    torch.save({'state_dict': teacher.state_dict()}, path)  # iBOT's checkpoint_teacher.pth form
    out, report = import_main([path, str(tmp_path / 'timm.pth'), '--target', 'timm'])
    assert report['source'] == 'state_dict' and report['unmapped'] == ['masked_embed']
    back = load_checkpoint_file(out)['state_dict']
    expected = {k: v for k, v in teacher.state_dict().items() if k != 'masked_embed'}
    assert back.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(back[k], v), k


def test_every_vit_key_layout_is_a_bijection():
    names = list(ours(layer_scale_init_value=0.1, pre_norm=True).state_dict())
    state = {k: torch.zeros(1) for k in names}
    for layout in ('timm', 'mmseg'):
        there, lost = rename_vit(state, 'mmpretrain', layout)
        back, _ = rename_vit(there, layout, 'mmpretrain')
        kept = [k for k in names if k not in lost]
        assert list(back) == kept and len(set(there)) == len(kept)
    assert rename_vit(state, 'mmpretrain', 'timm')[1] == []  # timm holds every parameter


@pytest.mark.parametrize('case', ['missing_part', 'resnet', 'missing_block_param', 'corrupt'])
def test_bad_input_names_the_problem_and_writes_nothing(official, tmp_path, case, capsys):
    path, teacher, _ = official
    src = str(tmp_path / 'bad.pth')
    if case == 'missing_part':
        torch.save({'teacher': {f'backbone.{k}': v for k, v in teacher.state_dict().items()}}, src)
        args, expect = ['--part', 'student'], "no 'student' weights; it holds ['teacher']"
    elif case == 'resnet':
        from mmpretrain.models import ResNet
        torch.save({'state_dict': ResNet(depth=18).state_dict()}, src)
        args, expect = [], 'not a complete timm-style ViT'
    elif case == 'missing_block_param':
        state = teacher.state_dict()
        del state['blocks.1.mlp.fc2.weight']
        torch.save(state, src)
        args, expect = [], 'missing layers.1.ffn.layers.1.weight'
    else:
        with open(path, 'rb') as f:
            data = f.read()
        with open(src, 'wb') as f:
            f.write(data[:len(data) // 2])
        args, expect = [], 'truncated'
    with pytest.raises(SystemExit) as exc:
        import_main([src, str(tmp_path / 'out' / 'converted.pth'), *args])
    assert expect in str(exc.value) and 'Nothing was written' in str(exc.value)
    assert not glob.glob(str(tmp_path / 'out' / '*')) and not osp.exists(tmp_path / 'out')


def test_convert_official_accepts_bare_state_dict():
    torch.manual_seed(1)
    model = TimmStyleViT()
    state, report = convert_official(model.state_dict())
    assert report['source'] == 'bare state dict'
    assert torch.equal(state['layers.2.attn.qkv.weight'], model.blocks[2].attn.qkv.weight)
    assert torch.equal(state['ln1.bias'], model.norm.bias)
