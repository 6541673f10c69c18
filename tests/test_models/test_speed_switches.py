"""Every speed switch leaves the loss and the gradients equal to the plain path.

Tolerances: switches that only reorder memory or replay the same kernels (activation
checkpointing) must match to 1e-6; switches that swap kernels (SDPA vs explicit softmax attention,
channels-last convolutions, fused/foreach AdamW, torch.compile) to 1e-5 relative/absolute in fp32.
"""
import copy
import random

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model_cfg
from fashion_mnist_utils import HSSL_CONFIG, IBOT_CONFIG, fmnist_root
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

TIGHT = dict(rtol=1e-6, atol=1e-6)
KERNEL = dict(rtol=1e-5, atol=1e-5)


def _build(cfg=None, **kw):
    torch.manual_seed(0)
    model = MODELS.build(cfg or tiny_model_cfg(**kw))
    model.init_weights()
    return model.train()


def _batch(B=3, G=2, L=1, size=32, local=16, grid=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(B, 3, size, size, generator=g) for _ in range(G)]
    views += [torch.randn(B, 3, local, local, generator=g) for _ in range(L)]
    masks = torch.rand(B, G, grid, grid, generator=g) > 0.6
    return views, [DataSample().set_mask(masks[i]) for i in range(B)]


def _loss_and_grads(model, seed=2):
    views, samples = _batch()
    torch.manual_seed(seed)  # same drop-path draws on both paths
    losses = model.loss(views, samples)
    total = sum(losses.values())
    model.zero_grad()
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return total.detach(), grads


def _assert_same(a, b, tol):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    torch.testing.assert_close(loss_a, loss_b, **tol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        # Relative to the tensor's scale: the projector's bias gradients reach ~1e3 (the L2
        # normalisation of a small bottleneck output), where float32 round-off alone is ~1e-4.
        scale = max(1.0, float(grads_b[name].abs().max()))
        torch.testing.assert_close(
            grads_a[name], grads_b[name], rtol=tol['rtol'], atol=tol['atol'] * scale, msg=name)


def _math_attention(q, k, v, attn_mask=None, dropout_p=0., scale=None, is_causal=False):
    """Attention written out: softmax(q k^T / sqrt(d)) v (no dropout in these tests)."""
    assert attn_mask is None and dropout_p == 0. and not is_causal
    attn = (q @ k.transpose(-2, -1)) * (scale or q.shape[-1]**-0.5)
    return attn.softmax(dim=-1) @ v


def test_vit_uses_sdpa_and_it_equals_math_attention():
    model = _build()
    # mmpretrain's MultiheadAttention picks torch's fused SDPA unless qk_scale is set.
    for layer in model.backbone.layers:
        assert layer.attn.scaled_dot_product_attention is F.scaled_dot_product_attention
    fused = _loss_and_grads(model)
    plain = _build()
    for layer in plain.backbone.layers:
        layer.attn.scaled_dot_product_attention = _math_attention
    _assert_same(fused, _loss_and_grads(plain), KERNEL)


def test_activation_checkpointing_keeps_loss_and_grads():
    cfg = tiny_model_cfg()
    cfg['backbone']['drop_path_rate'] = 0.2  # random branches: recomputation must replay them
    plain = _loss_and_grads(_build(cfg))
    cfg = copy.deepcopy(cfg)
    cfg['backbone']['with_cp'] = True
    model = _build(cfg)
    assert model.backbone.with_cp
    _assert_same(plain, _loss_and_grads(model), TIGHT)


def test_channels_last_aux_head_keeps_loss_and_grads():
    plain = _loss_and_grads(_build())
    cfg = tiny_model_cfg()
    cfg['neck']['channels_last'] = True
    model = _build(cfg)
    x = torch.randn(2, 32, 4, 4)
    seen = []
    hook = model.neck.blocks[0].dwconv.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    model.neck(x)
    hook.remove()
    assert seen == [True]
    _assert_same(plain, _loss_and_grads(model), KERNEL)


def _train_params(optimizer: dict, steps: int = 2):
    init_default_scope('mmpretrain')
    model = _build()
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='SSLOptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04, **optimizer),
            clip_grad_per_param=0.3,
            paramwise_cfg=dict(flat_decay_mult=0.0)))
    for i in range(steps):
        views, samples = _batch(seed=10 + i)
        model.train_step(dict(inputs=views, data_samples=samples), wrapper)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_fused_and_foreach_adamw_match_the_per_tensor_loop():
    loop = _train_params(dict(foreach=False))
    dims = 32
    for switch in (dict(fused=True), dict(foreach=True)):
        other = _train_params(switch)
        for name in loop:
            a, b = other[name], loop[name]
            if name.endswith('attn.qkv.bias'):
                # The key bias has an exactly-zero gradient in exact arithmetic (softmax ignores a
                # per-query constant), so Adam normalises pure round-off there: any step within
                # Adam's bound lr * steps is valid. Query and value biases must match.
                assert (a[dims:2 * dims] - b[dims:2 * dims]).abs().max() <= 1e-3 * 2
                a, b = torch.cat([a[:dims], a[2 * dims:]]), torch.cat([b[:dims], b[2 * dims:]])
            torch.testing.assert_close(a, b, **KERNEL, msg=name)
    start = {n: p for n, p in _build().named_parameters()}
    assert any(not torch.equal(loop[n], start[n]) for n in loop), \
        'the optimizer steps must have changed the parameters'


@pytest.mark.slow
def test_torch_compile_keeps_loss_and_grads():
    plain = _loss_and_grads(_build())
    model = _build()
    # aot_eager traces forward and backward graphs like inductor, without needing a C++ compiler.
    model.loss = torch.compile(model.loss, backend='aot_eager')
    _assert_same(plain, _loss_and_grads(model), KERNEL)


def _fmnist_model_and_batch(config: str, head_norm: bool = False, batch_size: int = 16):
    """A Fashion-MNIST benchmark model as configured, and real images made into its views and
    block masks by its own preprocessor."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg['batch_size'] = batch_size
    loader_cfg['dataset'].update(data_root=fmnist_root(), num_per_class=2)
    data = next(iter(Runner.build_dataloader(loader_cfg, seed=0)))
    if head_norm:
        cfg.model.head.norm_cfg = dict(type='BN1d')
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    model.init_weights()
    model.train()
    random.seed(0)  # the block masks
    torch.manual_seed(0)  # the crops
    batch = model.data_preprocessor(data, training=True)
    # The teacher differs from the student and the centers are not zero, so that a wrong pairing
    # of tokens cannot cancel out.
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.02 * torch.randn_like(p))
        model.loss_module.cls_center.normal_()
        model.loss_module.patch_center.normal_()
    return model, batch['inputs'], batch['data_samples']


def _every_token_loss(model, views, samples):
    """The computation before masked-only projection, from iBOT's formulas: the student projects
    every patch token of its global views; the masked-patch term keeps the masked positions, as a
    mean per image (images without masked tokens add 0), then over images and views."""
    lm, teacher = model.loss_module, model.teacher
    stacked = torch.stack([s.mask for s in samples]).bool()
    G = stacked.shape[1]
    masks = [stacked[:, v].flatten(1) for v in range(G)]

    def aux_cls(parts, feats):
        return parts['head'](parts['neck'](feats.aux_input)['cls'], aux=True)

    def targets(logits, center, temp):
        return F.softmax((logits - center) / temp, dim=-1)

    with torch.no_grad():  # the teacher's global views, batched and projected as in training
        f = model.adapter(teacher['backbone'], torch.cat(views[:G]))
        every_token = teacher['head'](f.tokens)
        t_cls = aux_cls(teacher, f) if model.with_neck else every_token[:, 0]
        t_cls = targets(t_cls, lm.cls_center, lm.teacher_temp).chunk(G)
        t_patch = targets(every_token[:, 1:], lm.patch_center, lm.teacher_patch_temp).chunk(G)
    student = dict(backbone=model.backbone, neck=model.neck, head=model.head)
    f = model.adapter(model.backbone, torch.cat(views[:G]), torch.cat(masks))
    every_token = model.head(f.tokens)
    s_cls = {'base': list(every_token[:, 0].chunk(G))}
    s_patch = every_token[:, 1:].chunk(G)
    if model.with_neck:
        s_cls['aux'] = list(aux_cls(student, f).chunk(G))
    f = model.adapter(model.backbone, torch.cat(views[G:]))
    s_cls['base'] += list(model.head(f.cls).chunk(len(views) - G))
    if model.with_neck:
        s_cls['aux'] += list(aux_cls(student, f).chunk(len(views) - G))

    def ce(p, logits):
        return -(p * F.log_softmax(logits / lm.student_temp, dim=-1)).sum(-1)

    losses = {}
    for name, outs in s_cls.items():
        terms = [ce(t, s).mean() for v, s in enumerate(outs) for q, t in enumerate(t_cls) if q != v]
        losses[f'loss_cls_{name}'] = lm.lambda_cls / len(s_cls) * torch.stack(terms).mean()
    mim = []
    for v in range(G):
        m = masks[v].float()
        per_image = (ce(t_patch[v], s_patch[v]) * m).sum(-1) / m.sum(-1).clamp(min=1)
        mim.append(per_image.mean())
    losses['loss_mim'] = lm.lambda_patch * torch.stack(mim).mean()
    return losses


def _losses_and_grads(model, compute, views, samples):
    losses = compute(views, samples)
    model.zero_grad()
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in losses.items()}, grads


@pytest.mark.parametrize(
    'config,head_norm', [(IBOT_CONFIG, False), (HSSL_CONFIG, False), (HSSL_CONFIG, True)],
    ids=['ibot', 'hssl-ibot', 'hssl-ibot-bn-head'])
def test_masked_only_student_projection_keeps_losses_and_grads(config, head_norm):
    model, views, samples = _fmnist_model_and_batch(config, head_norm)
    assert any(s.mask[1].any() for s in samples) and not all(s.mask.all() for s in samples)
    before = _losses_and_grads(model, lambda v, s: _every_token_loss(model, v, s), views, samples)
    after = _losses_and_grads(model, model.loss, views, samples)
    assert before[0].keys() == after[0].keys()
    for name in before[0]:
        torch.testing.assert_close(after[0][name], before[0][name], **KERNEL, msg=name)
    assert set(after[1]) == {n for n, p in model.named_parameters() if p.requires_grad}
    _assert_same((sum(after[0].values()), after[1]), (sum(before[0].values()), before[1]), KERNEL)


def test_student_projects_only_masked_patch_tokens():
    model, views, samples = _fmnist_model_and_batch(IBOT_CONFIG)
    rows = []
    hook = model.head.base_mlp.register_forward_pre_hook(  # student calls: with autograd
        lambda m, args: rows.append(args[0].shape[:-1].numel())
        if torch.is_grad_enabled() else None)
    model.loss(views, samples)
    hook.remove()
    batch, masked = views[0].shape[0], sum(int(s.mask.sum()) for s in samples)
    local = sum(v.shape[0] for v in views[2:])
    # Class tokens and masked patch tokens of the global views, class tokens of the local views.
    assert sum(rows) == 2 * batch + masked + local
