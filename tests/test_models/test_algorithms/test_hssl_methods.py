"""HSSL with iBOT, DINO and MoCo v3 on ViT and ResNet bases, built from the shipped configs."""
import glob
import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmpretrain.models.backbones import ResNet, VisionTransformer
from mmpretrain.registry import DATASETS, MODELS

from mmhssl.apis import extract_backbone
from mmhssl.engine import leave_out_schedulers_after_training
from mmhssl.utils.checkpoint import load_checkpoint_file, save_checkpoint_atomic

CFG_DIR = osp.join(ROOT, 'configs', 'hssl')
# Every method x base pair and its plain baseline (same recipe, no auxiliary head).
PAIRS = {
    'hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k':
    'ibot_vit-base-p16_8xb32-amp-100e_in1k',
    'hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k':
    'ibot_vit-small-p16_8xb32-amp-100e_in1k',
    'hssl-ibot_vit-small-p16_aux-transformer3_8xb32-amp-100e_in1k':
    'ibot_vit-small-p16_8xb32-amp-100e_in1k',
    'hssl-ibot_vit-small-p16_aux-mlp3_8xb32-amp-100e_in1k':
    'ibot_vit-small-p16_8xb32-amp-100e_in1k',
    'hssl-dino_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k':
    'dino_vit-base-p16_8xb32-amp-100e_in1k',
    'hssl-dino_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k':
    'dino_vit-small-p16_8xb32-amp-100e_in1k',
    'hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k':
    'dino_resnet50_8xb64-100e_in1k',
    'hssl-mocov3_vit-base-p16_aux-convnext3_16xb256-amp-300e_in1k':
    'mocov3_vit-base-p16_16xb256-amp-300e_in1k',
    'hssl-mocov3_vit-small-p16_aux-convnext3_16xb256-amp-300e_in1k':
    'mocov3_vit-small-p16_16xb256-amp-300e_in1k',
    'hssl-mocov3_resnet50_aux-transformer3_8xb512-amp-100e_in1k':
    'mocov3_resnet50_8xb512-amp-100e_in1k',
}
# One training run per method x (base, auxiliary head) pair; ViT-B differs from ViT-S only in size.
TRAINED = [
    'hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k',
    'hssl-ibot_vit-small-p16_aux-transformer3_8xb32-amp-100e_in1k',
    'hssl-ibot_vit-small-p16_aux-mlp3_8xb32-amp-100e_in1k',
    'hssl-dino_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k',
    'hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k',
    'hssl-mocov3_vit-small-p16_aux-convnext3_16xb256-amp-300e_in1k',
    'hssl-mocov3_resnet50_aux-transformer3_8xb512-amp-100e_in1k',
]
# The HSSL configs and, in baselines/, the plain ones; by name.
CONFIG_PATHS = {
    osp.splitext(osp.basename(p))[0]: p
    for p in glob.glob(osp.join(CFG_DIR, '**', '*.py'), recursive=True)
}
ALL_CONFIGS = sorted(CONFIG_PATHS)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    # These tiny models run fastest on one thread; several threads oversubscribe shared cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(name: str) -> Config:
    """The real config with CPU-sized widths, 64/32 px crops, 2 local crops and no AMP."""
    cfg = Config.fromfile(CONFIG_PATHS[name])
    model = cfg.model
    if model.backbone.type == 'ResNet':
        model.backbone.update(base_channels=8, stem_channels=8)  # still 50 layers deep
        width, grid = 8 * 8 * 4, 2
    else:
        model.backbone.update(
            arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
            img_size=64)
        width, grid = 32, 4
    aux_width = None
    if model.get('neck'):
        model.neck.update(in_channels=width, base_depth=2)
        if model.neck.type == 'AuxTransformerHead':
            model.neck.update(
                embed_dims=32 if model.neck.get('embed_dims') else None,
                num_heads=2,
                grid_size=grid)
        aux_width = model.neck.get('embed_dims') or width
    model.head.update(in_channels=width, hidden_channels=64)
    if model.head.get('aux_in_channels'):
        model.head.aux_in_channels = aux_width
    if model.head.type == 'HSSLProjector':
        model.head.update(bottleneck_channels=16, out_channels=128)
        model.loss.out_channels = 128
    else:
        model.head.out_channels = 16

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'RandomResizedCrop':
                node['scale'] = 64 if node['scale'] == 224 else 32
            if node.get('type') == 'MultiCropWithMasks':
                node['num_local_crops'] = min(node.get('num_local_crops', 0), 2)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(cfg.train_dataloader.dataset)
    # AMP wrappers need an accelerator; keep the optimizer, clipping and parameter groups.
    cfg.optim_wrapper.type = 'SSLOptimWrapper'
    cfg.optim_wrapper.pop('dtype', None)
    cfg.optim_wrapper.pop('loss_scale', None)
    return cfg


def pipeline_of(cfg: Config) -> list:
    """The training pipeline, inside however many dataset wrappers."""
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset:
        dataset = dataset.dataset
    return dataset.pipeline


def build(cfg: Config, seed: int = 0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def plain_base(backbone_cfg: dict) -> torch.nn.Module:
    """mmpretrain's own base model with the same architecture."""
    kw = {
        k: v
        for k, v in backbone_cfg.items()
        if k not in ('type', 'with_mask_token', 'init_mode', 'with_cp')
    }
    if backbone_cfg['type'] == 'ResNet':
        return ResNet(**kw)
    return VisionTransformer(**kw)


@pytest.mark.parametrize('name', TRAINED)
def test_config_trains_on_photos_and_loss_decreases(name, photos_dir):
    """Fit one fixed batch of real photos (the config's own pipeline, optimizer and model)."""
    cfg = tiny(name)
    dataset = DATASETS.build(
        dict(type='UnlabeledImageFolder', data_root=photos_dir, pipeline=pipeline_of(cfg)))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    batch = default_collate([dataset[i] for i in range(6)])
    model = build(cfg)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    # On a fixed batch a centred objective rises again once the center has caught up with the
    # teacher's mean (flatter targets), so it is judged early; InfoNCE at T=1 learns slower.
    steps = 10 if 'mocov3' in name else 5
    logs = []
    for _ in range(steps):
        logs.append(model.train_step(batch, optim_wrapper))
        model.update_teacher()  # after each optimizer step, as HSSLScheduleHook does
    losses = [log['loss'].item() for log in logs]
    assert np.isfinite(losses).all(), losses
    assert losses[-1] < losses[0], losses
    # One loss term per student branch, base and auxiliary, both from the teacher's aux output.
    assert {k.rsplit('_', 1)[-1] for k in logs[-1] if k != 'loss'} >= {'base', 'aux'}
    # The teacher follows by EMA only.
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(not torch.equal(v,
                               model.teacher.state_dict()[k]) for k, v in before.items()
               if v.is_floating_point())


def test_every_shipped_hssl_config_is_covered():
    hssl = {n for n in ALL_CONFIGS if n.startswith('hssl-') and n.endswith('_in1k')}
    extra = {'hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-150e_in1k'}  # a longer schedule
    assert hssl - extra <= set(PAIRS), sorted(hssl - extra - set(PAIRS))
    baselines = {n for n, p in CONFIG_PATHS.items() if osp.basename(osp.dirname(p)) == 'baselines'}
    assert baselines == set(PAIRS.values())


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_pretraining_pipeline_skips_unreadable_images(name):
    # One broken file in a folder of millions must not end a multi-day run.
    assert pipeline_of(Config.fromfile(CONFIG_PATHS[name]))[0]['type'] == 'SafeLoadImageFromFile'


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_exported_backbone_has_exactly_the_plain_base_keys(name, tmp_path):
    cfg = tiny(name)
    model = build(cfg)
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint_atomic(dict(state_dict=model.state_dict()), path)
    ckpt = load_checkpoint_file(path)
    base = plain_base(cfg.model.backbone)
    for part in ('teacher', 'student'):
        state = extract_backbone(ckpt, part=part, target='bare')
        assert set(state) == set(base.state_dict()), name
    base.load_state_dict(extract_backbone(ckpt, target='bare'), strict=True)


def _aux_key(key: str) -> bool:
    return key.startswith(('neck.', 'teacher.neck.')) or '.aux_' in key


@pytest.mark.parametrize('hssl,baseline', sorted(PAIRS.items()))
def test_baseline_is_the_same_model_without_any_aux_parameter(hssl, baseline):
    with_aux, plain = build(tiny(hssl)), build(tiny(baseline))
    assert plain.neck is None and not plain.with_neck
    plain_keys = set(plain.state_dict())
    assert not any(_aux_key(k) for k in plain_keys)
    assert plain_keys == {k for k in with_aux.state_dict() if not _aux_key(k)}
    assert any(_aux_key(k) for k in with_aux.state_dict())


def _views(B=4, size=64, local=32, n_local=2, seed=3):
    g = torch.Generator().manual_seed(seed)
    return ([torch.randn(B, 3, size, size, generator=g) for _ in range(2)] +
            [torch.randn(B, 3, local, local, generator=g) for _ in range(n_local)])


def _perturb_teacher(model):
    # A teacher different from the student, so that wrong wiring cannot cancel out.
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))


def test_dino_loss_matches_reference():
    model = build(tiny('hssl-dino_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k'))
    model.train()
    for m in model.modules():  # no stochastic depth, so both computations see the same network
        if hasattr(m, 'drop_prob'):
            m.drop_prob = 0.
    _perturb_teacher(model)
    loss = model.loss_module
    loss.teacher_temp = 0.05
    loss.cls_center.normal_()
    center = loss.cls_center.clone()
    views = _views()
    from mmpretrain.structures import DataSample
    samples = [DataSample() for _ in range(4)]
    t, s, head = model.teacher, model, model.head

    def aux_logits(net, x, h):
        pre, _, (gh, gw) = net['backbone'].forward_tokens(x)
        grid = pre[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, gh, gw)
        return h(net['neck'](grid)['cls'], aux=True)

    with torch.no_grad():
        t_aux = [aux_logits(t, x, t['head']) for x in views[:2]]
    targets = [F.softmax((z - center) / 0.05, -1) for z in t_aux]
    student = dict(backbone=s.backbone, neck=s.neck)
    s_base = [head(s.backbone.forward_tokens(x)[1][:, 0]) for x in views]
    s_aux = [aux_logits(student, x, head) for x in views]

    def ce(p, logits):
        return -(p * F.log_softmax(logits / 0.1, -1)).sum(-1).mean()

    # Base CLS and aux CLS of every view (2 global + 2 local) learn from the teacher AUX CLS of
    # the other global views; the CLS weight is split evenly between the two branches.
    pairs = [(q, v) for q in range(2) for v in range(4) if q != v]
    ref_base = 0.5 * torch.stack([ce(targets[q], s_base[v]) for q, v in pairs]).mean()
    ref_aux = 0.5 * torch.stack([ce(targets[q], s_aux[v]) for q, v in pairs]).mean()
    out = model.loss(views, samples)
    assert set(out) == {'loss_cls_base', 'loss_cls_aux'}
    torch.testing.assert_close(out['loss_cls_base'], ref_base, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out['loss_cls_aux'], ref_aux, rtol=1e-5, atol=1e-5)
    expected = 0.9 * center + 0.1 * torch.cat(t_aux).mean(0, keepdim=True)
    torch.testing.assert_close(loss.cls_center, expected, rtol=1e-5, atol=1e-6)


def test_mocov3_loss_matches_reference():
    model = build(tiny('hssl-mocov3_resnet50_aux-transformer3_8xb512-amp-100e_in1k'))
    model.train()
    _perturb_teacher(model)
    T = model.loss_module.temperature
    assert T == 1.0  # MoCo v3's ResNet temperature
    views = _views(n_local=0)
    from mmpretrain.structures import DataSample
    samples = [DataSample() for _ in range(4)]
    t = model.teacher

    def feats(backbone, x):
        return backbone(x)[-1]  # C5 map

    with torch.no_grad():  # keys: the momentum encoder's AUX branch, projector only
        keys = [t['head'](t['neck'](feats(t['backbone'], x))['cls'], aux=True) for x in views]
    # Queries: student base (GAP of C5) and student aux, each through its projector and predictor.
    q_base = [model.head(feats(model.backbone, x).mean((2, 3)), student=True) for x in views]
    q_aux = [
        model.head(model.neck(feats(model.backbone, x))['cls'], aux=True, student=True)
        for x in views
    ]

    def ctr(q, k):
        logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).t() / T
        return F.cross_entropy(logits, torch.arange(q.shape[0])) * 2 * T

    ref_base = 0.5 * (ctr(q_base[0], keys[1]) + ctr(q_base[1], keys[0]))
    ref_aux = 0.5 * (ctr(q_aux[0], keys[1]) + ctr(q_aux[1], keys[0]))
    out = model.loss(views, samples)
    assert set(out) == {'loss_nce_base', 'loss_nce_aux'}
    torch.testing.assert_close(out['loss_nce_base'], ref_base, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out['loss_nce_aux'], ref_aux, rtol=1e-5, atol=1e-5)


def test_mocov3_on_vit_uses_the_token_grid_and_predictor_only_for_queries():
    model = build(tiny('hssl-mocov3_vit-small-p16_aux-convnext3_16xb256-amp-300e_in1k'))
    model.train()
    views = _views(n_local=0)
    from mmpretrain.structures import DataSample
    out = model.loss(views, [DataSample() for _ in range(4)])
    sum(out.values()).backward()
    head = model.head
    for part in (head.base_mlp, head.aux_mlp, head.base_predictor, head.aux_predictor,
                 model.neck.blocks[0], model.backbone.patch_embed):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert model.backbone.mask_token is None  # no MIM: no unused parameter under DDP


def _build_error(cfg):
    with pytest.raises((TypeError, ValueError)) as err:
        MODELS.build(cfg.model)
    return str(err.value)


def test_pooled_base_with_grid_head_fails_at_build():
    cfg = tiny('hssl-dino_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k')
    cfg.model.backbone.update(type='VisionTransformer', out_type='cls_token')
    cfg.model.backbone.pop('with_mask_token')
    cfg.model.backbone.pop('init_mode')  # MaskedVisionTransformer's own argument
    msg = _build_error(cfg)
    assert 'AuxConvNeXtHead' in msg and 'VisionTransformer' in msg and 'pooled' in msg
    # The per-token MLP head accepts a pooled vector.
    cfg.model.neck = dict(type='AuxMLPHead', in_channels=32, depth=2, base_depth=2)
    MODELS.build(cfg.model)


@pytest.mark.parametrize('field,module', [('neck.in_channels', 'AuxTransformerHead'),
                                          ('head.in_channels', 'HSSLProjector'),
                                          ('head.aux_in_channels', 'HSSLProjector')])
def test_width_mismatch_fails_at_build_naming_both_modules(field, module):
    cfg = tiny('hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k')
    cfg.merge_from_dict({f'model.{field}': 48})
    msg = _build_error(cfg)
    other = 'AuxTransformerHead' if field == 'head.aux_in_channels' else 'ResNet'
    assert module in msg and other in msg and '48' in msg, msg


def test_masked_image_modeling_with_a_cnn_base_fails_at_build():
    cfg = tiny('hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k')
    cfg.model.loss = dict(type='IBOTLoss', out_channels=128)
    msg = _build_error(cfg)
    assert 'IBOTLoss' in msg and 'ResNet' in msg and 'DINOLoss' in msg


def test_baseline_projector_with_aux_branch_fails_at_build():
    cfg = tiny('dino_resnet50_8xb64-100e_in1k')
    cfg.model.head.with_aux = True
    assert 'with_aux=False' in _build_error(cfg)


def test_aux_input_knob_selects_pre_or_post_norm_tokens():
    from mmpretrain.structures import DataSample  # noqa: F401
    cfg = tiny('hssl-dino_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k')
    pre = build(cfg).eval()
    cfg.model.aux_input = 'post_norm'
    post = build(cfg).eval()
    x = torch.randn(2, 3, 64, 64)
    a, b = pre.adapter(pre.backbone, x), post.adapter(post.backbone, x)
    raw, normed, _ = pre.backbone.forward_tokens(x)
    torch.testing.assert_close(a.aux_input.flatten(2).transpose(1, 2), raw[:, 1:])
    torch.testing.assert_close(b.aux_input.flatten(2).transpose(1, 2), normed[:, 1:])
    cfg = tiny('hssl-dino_resnet50_aux-transformer3_8xb64-100e_in1k')
    cfg.model.aux_input = 'pre_norm'
    assert 'no final norm' in _build_error(cfg)


@pytest.mark.slow
def test_mocov3_config_runs_in_the_runner_with_its_schedule_hook(photos_dir, tmp_path):
    """MoCo v3 has no prototype layer to freeze: the hook only schedules the momentum."""
    from mmengine.runner import Runner
    cfg = tiny('hssl-mocov3_vit-small-p16_aux-convnext3_16xb256-amp-300e_in1k')
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset:
        dataset = dataset.dataset
    dataset.update(type='UnlabeledImageFolder', data_root=photos_dir)
    for key in ('split', 'data_prefix', 'ann_file'):
        dataset.pop(key, None)
    cfg.train_dataloader.update(
        batch_size=4, num_workers=0, persistent_workers=False, pin_memory=False)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    leave_out_schedulers_after_training(cfg)  # as tools/train.py does for a shortened run
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == len(runner.train_dataloader) == len(os.listdir(photos_dir)) // 4
    # The hook's cosine schedule, not the initial value.
    assert 0.99 < runner.message_hub.get_scalar('train/momentum').current() < 1.0
